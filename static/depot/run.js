// Live progress for a benchmark run page: polls the run's API URL until it finishes, then reloads once to
// show the results. Without JavaScript the page refreshes itself (noscript meta refresh).
(function () {
  const article = document.querySelector("article.run");
  if (!article || article.dataset.finished === "true") return;
  const url = article.dataset.runUrl;
  const bar = document.getElementById("run-progress");
  const text = document.getElementById("run-progress-text");
  const status = document.getElementById("run-status");
  const log = document.getElementById("run-log");
  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const run = await response.json();
        bar.value = run.progress;
        text.textContent = Math.round(run.progress) + "%";
        status.textContent = run.status;
        status.className = "status status-" + run.status;
        if (run.log_tail) log.textContent = run.log_tail;
        if (["succeeded", "failed", "cancelled"].includes(run.status)) {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // A dropped poll is retried on the next tick.
    }
    window.setTimeout(poll, 1000);
  }
  window.setTimeout(poll, 1000);
})();
