// Live progress for a benchmark run or transfer ranking page: polls the job's API URL until it finishes, then
// reloads once to show the results. While it runs, the status, worker, log and (for a ranking) each candidate's
// row follow the API, so scores appear as they are computed. Without JavaScript the page refreshes itself
// (noscript meta refresh).
(function () {
  const article = document.querySelector("article.run");
  if (!article || article.dataset.finished === "true") return;
  const url = article.dataset.runUrl;
  const bar = document.getElementById("run-progress");
  const text = document.getElementById("run-progress-text");
  const status = document.getElementById("run-status");
  const worker = document.getElementById("run-worker");
  const log = document.getElementById("run-log");

  const percent = (value) => (value === null || value === undefined ? "—" : value.toFixed(2) + "%");
  const fixed = (value, digits, unit) =>
    value === null || value === undefined ? "—" : value.toFixed(digits) + (unit || "");
  function spread(folds) {
    if (!folds || folds.length < 2) return "";
    const mean = folds.reduce((a, b) => a + b, 0) / folds.length;
    const variance = folds.reduce((a, b) => a + (b - mean) ** 2, 0) / (folds.length - 1);
    return " ±" + Math.sqrt(variance).toFixed(2);
  }

  // The labels of evaluation.models.CandidateStatus, as the server renders them.
  const STATUS_LABELS = {
    pending: "Pending",
    scored: "Scored",
    missing_weights: "No weights on this hub",
    failed: "Failed",
  };

  function showCandidate(candidate) {
    const row = document.querySelector(`tr[data-model="${CSS.escape(candidate.model)}"]`);
    if (!row) return;
    const cells = {
      rank: candidate.rank === null ? "—" : String(candidate.rank),
      score: percent(candidate.score),
      spread: spread(candidate.score_folds),
      knn: percent(candidate.knn),
      logme: fixed(candidate.logme, 3),
      seconds: fixed(candidate.seconds, 1, " s"),
      latency_ms: fixed(candidate.latency_ms, 1, " ms"),
    };
    for (const [field, value] of Object.entries(cells)) {
      const cell = row.querySelector(`[data-field="${field}"]`);
      if (cell) cell.textContent = value;
    }
    const badge = row.querySelector('[data-field="status"] .badge');
    if (badge && candidate.status !== "pending") {
      badge.textContent = STATUS_LABELS[candidate.status] || candidate.status;
      badge.className = "badge " + candidate.status;
      row.className = "candidate candidate-" + candidate.status;
    }
  }

  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const job = await response.json();
        bar.value = job.progress;
        text.textContent = Math.round(job.progress) + "%";
        status.textContent = job.status;
        status.className = "status status-" + job.status;
        if (worker && job.worker) worker.textContent = job.worker;
        if (job.log_tail) log.textContent = job.log_tail;
        (job.candidates || []).forEach(showCandidate);
        if (["succeeded", "failed", "cancelled"].includes(job.status)) {
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
