// The ranking form's split list follows the chosen dataset: only that dataset's splits are offered (each option
// names its dataset, so without JavaScript the full list still says which split belongs to which).
(function () {
  const dataset = document.getElementById("id_dataset");
  const split = document.getElementById("id_split");
  if (!dataset || !split) return;
  function follow() {
    let selectedStillOffered = false;
    for (const option of split.options) {
      const offered = option.dataset.dataset === dataset.value;
      option.hidden = !offered;
      option.disabled = !offered;
      option.textContent = offered ? option.textContent.replace(/^[^:]*: /, "") : option.textContent;
      if (offered && option.selected) selectedStillOffered = true;
    }
    if (!selectedStillOffered) {
      const offered = [...split.options].filter((option) => !option.disabled);
      const train = offered.find((option) => option.value === "train");
      if (offered.length) (train || offered[0]).selected = true;
    }
  }
  dataset.addEventListener("change", follow);
  follow();
})();
