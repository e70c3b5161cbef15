// Slipway's dashboard: a page over the REST API, with no code of its own on the server. It
// lists functions and what each alias serves, a function's deployments with their build logs
// and a link to each one's page, and rolls back or promotes with a click for those who may
// (a server token, or a GitHub user with write access). A served version whose runtime keeps
// going down is flagged "crash loop", with its exit code and what to do. Who is calling and
// how is console.js's business. Text from the API is only ever set as textContent.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const { api, element, button } = window.slipwayConsole;
  const session = window.slipwayConsole;
  let selected = null; // { id, name, owner, repo }

  function show(text, isError = false) {
    $("message").textContent = text;
    $("message").className = isError ? "error" : "";
  }

  async function signOut() {
    stopExecutionTail();
    await session.signOut();
    showSignIn();
  }

  function showSignIn() {
    selected = null;
    for (const id of ["functions", "deployments", "alerts", "refresh", "sign-out"]) $(id).hidden = true;
    $("who").textContent = "";
    $("sign-in").hidden = false;
    $("github-sign-in").hidden = !session.state.signInWithGithub;
    $("github-sign-in").setAttribute("href", session.signInUrl());
  }

  const aliasText = (alias) => `v${alias.version}${alias.pinned ? " (pinned)" : ""}`;

  const seconds = (s) => (s < 90 ? `${Math.max(1, Math.round(s))} s` : `${Math.round(s / 60)} min`);

  // `health`: one entry of runtimeHealth, as the API returns it.
  function healthText(health) {
    const why =
      health.lastExitCode !== null ? `exit code ${health.lastExitCode}`
      : health.lastReason === "unhealthy" ? "stopped answering its health check"
      : health.lastReason === "start_failed" ? "did not become healthy when started"
      : "exited";
    const span = (new Date(health.lastRestartAt) - new Date(health.firstRestartAt)) / 1000;
    const count = `${health.restarts} restart${health.restarts === 1 ? "" : "s"}${health.restarts > 1 ? ` in ${seconds(span)}` : ""}`;
    const next = health.nextRestartInSeconds === null ? "" : health.nextRestartInSeconds > 0 ? `, next try in ${seconds(health.nextRestartInSeconds)}` : ", restarting now";
    return `${why}, ${count}, last at ${new Date(health.lastRestartAt).toLocaleTimeString()}${next}`;
  }

  function healthBadge(health) {
    return health.crashLooping
      ? element("span", "crash loop", { class: "badge crash-loop", title: healthText(health) })
      : element("span", `restarted ×${health.restarts}`, { class: "badge restarted", title: healthText(health) });
  }

  const crashLoops = (fn) => (fn.runtimeHealth || []).filter((h) => h.crashLooping);

  function crashLoopBanner(fn, health) {
    const where = health.aliases.length ? ` (${health.aliases.join(", ")})` : "";
    const box = element("div", undefined, { "data-crash-loop": health.deploymentId });
    const title = element("p");
    title.append(element("span", "crash loop", { class: "badge crash-loop" }), ` ${fn.name} v${health.version}${where} keeps going down: ${healthText(health)}.`);
    const output = element("p", "Its output is in the gateway's log (deployment ");
    output.append(element("code", health.deploymentId), ") and in ", element("code", `docker logs slipway-runtime-${health.deploymentId}`), " on the gateway's Docker host. Slipway keeps restarting it, at most once a minute.");
    const todo = element("p", "Roll back to a version that worked: its Roll back button below, ");
    todo.append(element("code", "/slipway rollback"), " in a comment, or ", element("code", `slipway rollback ${fn.id}`), ". Or push a fix.");
    box.append(title, output, todo);
    return box;
  }

  // The function's newest deployment: its version (a link to its page), status and when.
  function lastDeployCell(last) {
    const cell = element("td");
    if (!last) {
      cell.textContent = "–";
      return cell;
    }
    cell.append(
      element("a", `v${last.version}`, { href: `/deployments/${encodeURIComponent(last.id)}` }),
      " ",
      element("span", last.status, { class: `badge status-${last.status}`, ...(last.error ? { title: last.error } : {}) }),
      ` ${new Date(last.createdAt).toLocaleString()}`,
    );
    return cell;
  }

  async function loadFunctions() {
    const { functions } = await api("GET", "/v1/functions");
    const rows = $("function-rows");
    rows.replaceChildren();
    for (const fn of functions) {
      const production = fn.aliases.find((a) => a.alias === "production");
      const previews = element("td");
      fn.aliases.filter((a) => a.alias !== "production").forEach((a, i) => previews.append(i ? ", " : "", element("a", `${a.alias}: v${a.version}`, { href: a.url, rel: "noopener noreferrer" })));
      if (!previews.childNodes.length) previews.textContent = "–";
      const row = element("tr", undefined, { "data-function": fn.id });
      if (selected && selected.id === fn.id) row.className = "selected";
      const name = element("td");
      name.append(button(fn.name, () => selectFunction(fn), "link"));
      const link = element("td");
      link.append(element("a", fn.url, { href: fn.url, rel: "noopener noreferrer", target: "_blank" }));
      const health = element("td");
      const worst = crashLoops(fn)[0] || (fn.runtimeHealth || [])[0];
      health.append(worst ? healthBadge(worst) : "–");
      row.append(name, element("td", `${fn.owner}/${fn.repo}`), element("td", fn.runtime), element("td", production ? aliasText(production) : "–"), previews, link, health, lastDeployCell(fn.lastDeployment));
      rows.append(row);
    }
    $("functions").hidden = false;
    const looping = functions.filter((fn) => crashLoops(fn).length > 0);
    $("alerts").replaceChildren();
    for (const fn of looping) {
      const line = element("p", undefined, { "data-function": fn.id });
      line.append(element("span", "crash loop", { class: "badge crash-loop" }), ` ${fn.name} (${fn.owner}/${fn.repo}) v${crashLoops(fn)[0].version}: ${healthText(crashLoops(fn)[0])} `, button("Open", () => selectFunction(fn), "link"));
      $("alerts").append(line);
    }
    $("alerts").hidden = looping.length === 0;
    if (functions.length === 0) show("No functions yet: push a slipway.yml to a repository where the app is installed.");
    return functions;
  }

  async function selectFunction(fn) {
    // Another function's log must not stay under this one's deployments.
    if (!selected || selected.id !== fn.id) {
      stopExecutionTail();
      $("execution-detail").hidden = true;
      $("execution-rows").replaceChildren();
      $("log-title").hidden = true;
      $("log").hidden = true;
      $("log").textContent = "";
    }
    selected = { id: fn.id, name: fn.name, owner: fn.owner, repo: fn.repo };
    for (const row of $("function-rows").children) row.className = row.getAttribute("data-function") === fn.id ? "selected" : "";
    await loadDeployments(fn);
  }

  const duration = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : ms < 90_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`);

  function refCell(fn, d) {
    const cell = element("td");
    const pull = /^refs\/pull\/(\d+)\//.exec(d.ref || "");
    if (d.trigger === "upload") cell.textContent = d.createdBy ? `by ${d.createdBy}` : "–";
    else if (pull) cell.append(element("a", `PR #${pull[1]}`, { href: `${fn.repositoryUrl}/pull/${pull[1]}`, rel: "noopener noreferrer" }));
    else cell.textContent = String(d.ref || "").replace(/^refs\/heads\//, "");
    return cell;
  }

  function commitCell(fn, d) {
    const cell = element("td");
    if (d.commitSha && /^[0-9a-f]{40}$/.test(d.commitSha)) cell.append(element("a", d.commitSha.slice(0, 7), { href: `${fn.repositoryUrl}/commit/${d.commitSha}`, rel: "noopener noreferrer" }));
    else cell.textContent = d.trigger === "upload" ? "upload" : String(d.commitSha || "–").slice(0, 12);
    return cell;
  }

  // Filters of the deployments table: by status on the server, by alias and trigger here.
  const filters = () => ({ status: $("filter-status").value, alias: $("filter-alias").value, trigger: $("filter-trigger").value });

  function fillFilter(id, values) {
    const select = $(id);
    const current = select.value;
    select.replaceChildren(element("option", "any", { value: "" }), ...[...new Set(values)].sort().map((v) => element("option", v, { value: v })));
    select.value = [...select.options].some((o) => o.value === current) ? current : "";
  }

  // `fn` as /v1/functions lists it: with what each alias serves now.
  async function loadDeployments(fn) {
    const chosen = filters();
    const statusQuery = chosen.status ? `&status=${encodeURIComponent(chosen.status)}` : "";
    const { deployments: all } = await api("GET", `/v1/deployments?functionId=${encodeURIComponent(fn.id)}&limit=50${statusQuery}`);
    const aliasesOf = (d) => fn.aliases.filter((a) => a.deploymentId === d.id).map((a) => a.alias);
    fillFilter("filter-alias", fn.aliases.map((a) => a.alias));
    fillFilter("filter-trigger", all.map((d) => d.trigger));
    const deployments = all.filter((d) => (!chosen.alias || aliasesOf(d).includes(chosen.alias)) && (!chosen.trigger || d.trigger === chosen.trigger));
    const production = fn.aliases.find((a) => a.alias === "production");
    $("deployments-title").textContent = `${fn.name}: deployments`;
    $("runtime-banner").replaceChildren(...crashLoops(fn).map((health) => crashLoopBanner(fn, health)));
    $("runtime-banner").hidden = crashLoops(fn).length === 0;
    const rows = $("deployment-rows");
    rows.replaceChildren();
    for (const d of deployments) {
      const serving = production && production.deploymentId === d.id;
      const status = element("td", d.prunedAt ? `${d.status} (pruned)` : d.status, { class: d.prunedAt ? "pruned" : `status-${d.status}`, ...(d.error ? { title: d.error } : {}) });
      const actions = element("td");
      if (serving) {
        actions.append(element("strong", production.pinned ? "serving (pinned)" : "serving"), " ");
        if (production.pinned && fn.canDeploy) actions.append(button("Unpin", () => unpin(fn)));
      }
      else if (d.status === "ready" && !d.prunedAt && production && fn.canDeploy) {
        const action = d.version < production.version ? "rollback" : "promote";
        actions.append(button(action === "rollback" ? `Roll back to v${d.version}` : `Promote v${d.version}`, () => switchTo(fn, action, d)));
      }
      actions.append(button("Log", () => showLog(d), "link"));
      if (d.runtimeHealth) actions.append(" ", healthBadge(d.runtimeHealth));
      rows.append(element("tr", undefined, { "data-deployment": d.id }));
      const version = element("td");
      version.append(element("a", `v${d.version}`, { href: `/deployments/${encodeURIComponent(d.id)}` }));
      const took = d.buildStartedAt && d.buildFinishedAt ? duration(new Date(d.buildFinishedAt) - new Date(d.buildStartedAt)) : "–";
      const reason = element("td", d.error || "", { class: "reason" });
      rows.lastChild.append(version, status, element("td", aliasesOf(d).join(", ") || "–"), element("td", d.trigger.replace("_", " ")), refCell(fn, d), commitCell(fn, d), element("td", took), element("td", new Date(d.createdAt).toLocaleString()), reason, actions);
    }
    $("deployments").hidden = false;
    await Promise.all([loadAudit(fn, all), loadVariables(fn), stopTail ? undefined : loadExecutions(fn), loadMetrics(fn)]);
  }

  // Metrics at a glance, drawn by Chart.js: builds (duration, coloured by outcome) and
  // executions per minute with errors and p95 duration, over the last 24 hours.
  const charts = {};
  function drawChart(id, config) {
    if (charts[id]) charts[id].destroy();
    try {
      charts[id] = new window.Chart($(id), { ...config, options: { animation: false, responsive: true, maintainAspectRatio: false, ...config.options } });
    } catch {
      // A browser without a canvas context (a headless test DOM) still has the totals above.
    }
  }

  async function loadMetrics(fn) {
    const metrics = await api("GET", `/v1/console/functions/${encodeURIComponent(fn.id)}/metrics`);
    const { totals } = metrics;
    $("metrics-totals").textContent =
      `${metrics.builds.length} build${metrics.builds.length === 1 ? "" : "s"} (${metrics.builds.filter((b) => b.status === "failed").length} failed); ` +
      `${totals.executions} execution${totals.executions === 1 ? "" : "s"}` +
      (totals.executions ? `, error rate ${(100 * totals.errorRate).toFixed(1)} %, p95 ${totals.p95Ms === null ? "–" : duration(totals.p95Ms)}` : "");
    if (!window.Chart) return;
    const colour = { ready: "#1a7f37", failed: "#cf222e", cancelled: "#8c959f" };
    drawChart("build-chart", {
      type: "bar",
      data: { labels: metrics.builds.map((b) => `v${b.version}`), datasets: [{ label: "build seconds", data: metrics.builds.map((b) => (b.durationMs ?? 0) / 1000), backgroundColor: metrics.builds.map((b) => colour[b.status] || "#8c959f") }] },
      options: { plugins: { legend: { display: false } }, scales: { y: { title: { display: true, text: "s" } } } },
    });
    const minutes = metrics.executionsPerMinute.map((m) => new Date(m.minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
    drawChart("execution-chart", {
      data: {
        labels: minutes,
        datasets: [
          { type: "bar", label: "executions", data: metrics.executionsPerMinute.map((m) => m.executions), backgroundColor: "#0969da" },
          { type: "bar", label: "errors", data: metrics.executionsPerMinute.map((m) => m.errors), backgroundColor: "#cf222e" },
          { type: "line", label: "p95 ms", data: metrics.executionsPerMinute.map((m) => m.p95Ms), borderColor: "#9a6700", yAxisID: "ms" },
        ],
      },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: "per minute" } }, ms: { position: "right", beginAtZero: true, title: { display: true, text: "ms" } } } },
    });
  }

  // The function's executions, newest first. With "live" on they stream in (Server-Sent
  // Events, sent again whenever the function's executions change); off, they are read once.
  let stopTail = null;

  function executionQuery() {
    const query = new URLSearchParams({ limit: "30" });
    if ($("execution-status").value) query.set("status", $("execution-status").value);
    if ($("execution-trigger").value) query.set("trigger", $("execution-trigger").value);
    return query;
  }

  function stopExecutionTail() {
    if (stopTail) stopTail();
    stopTail = null;
  }

  async function loadExecutions(fn) {
    stopExecutionTail();
    const query = executionQuery();
    const path = `/v1/console/functions/${encodeURIComponent(fn.id)}`;
    if ($("execution-live").checked) {
      stopTail = session.follow(`${path}/execution-events?${query}`, { executions: ({ executions }) => showExecutions(fn, query, executions) });
      return;
    }
    const { executions } = await api("GET", `${path}/executions?${query}`);
    showExecutions(fn, query, executions);
  }

  function showExecutions(fn, query, executions) {
    if (!selected || selected.id !== fn.id) return;
    $("execution-rows").replaceChildren(...executions.map((e) => {
      const row = element("tr", undefined, { "data-execution": e.id });
      const status = element("td", e.status, { class: e.status === "completed" ? "status-ready" : e.status === "failed" || e.status === "timed_out" ? "status-failed" : "status-building" });
      const details = element("td");
      details.append(button("Details", () => showExecution(e), "link"));
      const request = element("td");
      request.append(element("a", `${e.requestMethod} ${e.requestPath}`, { href: `/executions/${encodeURIComponent(e.id)}` }));
      row.append(element("td", new Date(e.createdAt).toLocaleString()), element("td", e.event ? `${e.trigger} (${e.event})` : e.trigger), status, request, element("td", e.responseStatusCode ?? "–"), element("td", e.durationMs === null ? "–" : duration(e.durationMs)), details);
      return row;
    }));
    if (executions.length === 0) {
      const empty = element("tr");
      empty.append(element("td", query.has("status") || query.has("trigger") ? "No executions match these filters." : "No executions yet.", { colspan: "7" }));
      $("execution-rows").replaceChildren(empty);
    }
  }

  function showExecution(e) {
    const lines = [`${e.requestMethod} ${e.requestPath} → ${e.responseStatusCode ?? e.status}${e.durationMs === null ? "" : ` in ${duration(e.durationMs)}`}`, `trigger: ${e.trigger}${e.event ? ` (${e.event})` : ""}, status: ${e.status}`];
    lines.push("", "logs:", e.logs || "(none)", "", "errors:", e.errors || "(none)");
    $("execution-detail").textContent = lines.join("\n");
    $("execution-detail").hidden = false;
  }

  // Who changed what this function serves: the audit log, with versions for deployment ids.
  async function loadAudit(fn, deployments) {
    const { entries } = await api("GET", `/v1/functions/${encodeURIComponent(fn.id)}/audit?limit=20`);
    const versionOf = (id) => {
      const d = deployments.find((x) => x.id === id);
      return id ? (d ? `v${d.version}` : id.slice(0, 8)) : "–";
    };
    $("audit-rows").replaceChildren(...entries.map((entry) => {
      const row = element("tr");
      row.append(element("td", new Date(entry.createdAt).toLocaleString()), element("td", entry.action), element("td", entry.actor), element("td", entry.via), element("td", `${versionOf(entry.fromDeploymentId)} → ${versionOf(entry.toDeploymentId)}`));
      return row;
    }));
  }

  // A writer's view of variables, names only: the function's own and its repository's (shared
  // by all its functions), each with Delete, and a form that sets one in either scope.
  const variableScopes = (fn) => ({
    function: { path: `/v1/functions/${encodeURIComponent(fn.id)}/variables`, list: "variable-names", label: fn.name },
    repository: { path: `/v1/repositories/${encodeURIComponent(fn.owner)}/${encodeURIComponent(fn.repo)}/variables`, list: "repository-variable-names", label: `every function of ${fn.owner}/${fn.repo}` },
  });

  async function loadVariables(fn) {
    $("variables").hidden = !fn.canDeploy;
    if (!fn.canDeploy) return;
    $("repository-variables-title").textContent = `Every function of ${fn.owner}/${fn.repo}`;
    await Promise.all(Object.entries(variableScopes(fn)).map(async ([scope, { path, list }]) => {
      const { variables } = await api("GET", path);
      $(list).replaceChildren(...variables.map((variable) => {
        const item = element("li", undefined, { "data-variable": variable.name });
        item.append(element("code", variable.name), " ", button("Delete", () => void deleteVariable(fn, scope, variable.name), "action", `Delete ${variable.name}`));
        return item;
      }));
      if (variables.length === 0) $(list).replaceChildren(element("li", "none set"));
    }));
  }

  async function deleteVariable(fn, scope, name) {
    const { path, label } = variableScopes(fn)[scope];
    if (!window.confirm(`Delete ${name} from ${label}? The next deployment runs without it.`)) return;
    try {
      await api("DELETE", `${path}/${encodeURIComponent(name)}`);
      show(`${name} deleted from ${label}; it applies from the next deployment.`);
    } catch (error) {
      show(error.message, true);
    }
    await refresh();
  }

  async function setVariable(event) {
    event.preventDefault();
    if (!selected) return;
    const name = $("variable-name").value.trim();
    const { path, label } = variableScopes(selected)[$("variable-scope").value];
    try {
      const result = await api("PUT", `${path}/${encodeURIComponent(name)}`, { value: $("variable-value").value });
      show(`${name} ${result.created ? "set" : "changed"} for ${label}; it ${result.note}.`);
      $("variable-name").value = "";
      $("variable-value").value = "";
    } catch (error) {
      show(error.message, true);
    }
    await refresh();
  }

  async function switchTo(fn, action, deployment) {
    const what = action === "rollback" ? `Roll back ${fn.name} to v${deployment.version}? Production is pinned until a promote.` : `Promote v${deployment.version} of ${fn.name} to production?`;
    if (!window.confirm(what)) return;
    show(`${action === "rollback" ? "Rolling back" : "Promoting"} ${fn.name}…`);
    try {
      const result = await api("POST", `/v1/functions/${encodeURIComponent(fn.id)}/${action}`, { target: `v${deployment.version}` });
      const from = result.fromVersion ? `v${result.fromVersion} → ` : "";
      show(`${result.functionName}: ${from}v${result.toVersion}${result.pinned ? ", production pinned" : ""} (${Math.round(result.durationMs)} ms)`);
    } catch (error) {
      show(error.message, true);
    }
    await refresh();
  }

  async function unpin(fn) {
    if (!window.confirm(`Unpin ${fn.name}? Pushes to its branch go live again.`)) return;
    try {
      const result = await api("POST", `/v1/functions/${encodeURIComponent(fn.id)}/unpin`);
      show(`${result.functionName}: unpinned at v${result.version}; pushes go live again.`);
    } catch (error) {
      show(error.message, true);
    }
    await refresh();
  }

  async function showLog(deployment) {
    $("log-title").textContent = `Build log of v${deployment.version}`;
    $("log-title").hidden = false;
    $("log").hidden = false;
    $("log").textContent = "loading…";
    try {
      const text = await api("GET", `/v1/deployments/${encodeURIComponent(deployment.id)}/logs`);
      $("log").textContent = text || (deployment.error ? `(no output) ${deployment.error}` : "(no output)");
    } catch (error) {
      $("log").textContent = error.message;
    }
  }

  async function refresh() {
    try {
      const functions = await loadFunctions();
      const fn = selected && functions.find((f) => f.id === selected.id);
      if (fn) await loadDeployments(fn);
      $("refresh").hidden = false;
      $("sign-out").hidden = false;
      $("sign-in").hidden = true;
      $("who").textContent = session.whoText();
    } catch (error) {
      if (error instanceof session.UnauthorizedError) {
        await session.signOut();
        showSignIn();
      }
      show(error.message, true);
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("sign-in").addEventListener("submit", (event) => {
      event.preventDefault();
      session.setToken($("token").value.trim());
      $("token").value = "";
      show("");
      void refresh();
    });
    $("refresh").addEventListener("click", () => void refresh());
    $("variable-form").addEventListener("submit", (event) => void setVariable(event));
    for (const id of ["execution-status", "execution-trigger", "execution-live"]) $(id).addEventListener("change", () => selected && void loadExecutions(selected).catch((error) => show(error.message, true)));
    for (const id of ["filter-status", "filter-alias", "filter-trigger"]) $(id).addEventListener("change", () => void refresh());
    $("sign-out").addEventListener("click", () => void signOut());
    // The token form shows at once; whether GitHub sign-in is on (and who is signed in) follows.
    if (!session.signedIn()) showSignIn();
    await session.loadSession();
    if (session.signedIn()) void refresh();
    else showSignIn();
    // Builds finish and aliases move while the page is open.
    setInterval(() => {
      if (session.signedIn() && !document.hidden) void refresh();
    }, 10000);
  });
})();
