// A deployment's page (/deployments/<id>), where check runs and pull-request comments link:
// what it is (function, version, aliases, trigger, branch or pull request, commit), how its
// build went (status, timings, artifact, the failure reason, the failing command and the
// annotations) and its build log, streamed live while it builds (Server-Sent Events for a
// signed-in user; the streamed text API for a pasted token, which EventSource cannot send).
// Those who may deploy get the same Roll back, Promote and Unpin buttons as the dashboard.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const session = window.slipwayConsole;
  const { api, element, button } = session;
  const deploymentId = decodeURIComponent(location.pathname.split("/")[2] || "");
  let following = null; // the EventSource or AbortController while the log is followed

  function show(text, isError = false) {
    $("message").textContent = text;
    $("message").className = isError ? "error" : "";
  }

  const duration = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : ms < 90_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`);
  const size = (bytes) => (bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

  function triggerText(d) {
    if (d.trigger === "upload" || d.trigger.startsWith("redeploy")) return `${d.trigger.replace(/-/g, " ")}${d.createdBy ? ` by ${d.createdBy}` : ""}${d.createdVia ? ` (${d.createdVia})` : ""}`;
    return d.trigger.replace("_", " ");
  }

  function refText(d) {
    const pull = /^refs\/pull\/(\d+)\//.exec(d.ref);
    if (pull) return element("a", `pull request #${pull[1]}`, { href: `${d.repositoryUrl}/pull/${pull[1]}`, rel: "noopener noreferrer" });
    return element("span", d.ref.replace(/^refs\/heads\//, "branch "));
  }

  function fact(term, ...values) {
    const dd = element("dd");
    dd.append(...values.map((v) => (typeof v === "string" ? document.createTextNode(v) : v)));
    $("facts").append(element("dt", term), dd);
  }

  function render(d) {
    document.title = `${d.functionName} v${d.version} · Slipway`;
    d.repositoryUrl = d.commit && d.commit.url ? d.commit.url.replace(/\/commit\/[0-9a-f]+$/, "") : null;
    $("title").textContent = `${d.functionName} v${d.version}`;
    $("status").textContent = d.prunedAt ? `${d.status} (pruned)` : d.status;
    $("status").className = `badge status-${d.status}`;
    $("aliases").textContent = d.aliases.length ? `serves ${d.aliases.join(", ")}` : "";

    $("failure").hidden = !d.error;
    $("failure-reason").textContent = d.error || "";
    $("failure-command").hidden = !d.failedCommand;
    $("failure-command").querySelector("code").textContent = d.failedCommand || "";

    $("facts").replaceChildren();
    fact("function", `${d.functionName} (${d.owner}/${d.repo}, ${d.runtime})`);
    fact("trigger", triggerText(d));
    if (d.trigger !== "upload") fact("ref", d.repositoryUrl ? refText(d) : d.ref);
    const commit = [element("code", String(d.commitSha).slice(0, 7))];
    if (d.commit) {
      commit[0] = element("a", String(d.commitSha).slice(0, 7), { href: d.commit.url, rel: "noopener noreferrer" });
      commit.push(` ${d.commit.message.split("\n")[0]}`, d.commit.author ? ` (${d.commit.author})` : "");
    }
    if (d.trigger !== "upload" || d.commit) fact("commit", ...commit);
    fact("created", new Date(d.createdAt).toLocaleString());
    if (d.buildStartedAt && d.buildFinishedAt) fact("build", duration(new Date(d.buildFinishedAt) - new Date(d.buildStartedAt)));
    if (d.artifactDigest) fact("artifact", element("code", d.artifactDigest), ` ${size(d.artifactSize)}`);
    if (d.status === "ready" && !d.prunedAt) {
      const links = element("span");
      d.urls.forEach((url, i) => links.append(i ? ", " : "", element("a", url, { href: url, rel: "noopener noreferrer" })));
      fact("URLs", links);
    }

    $("annotations").replaceChildren(...d.annotations.map((a) => element("li", `${a.path}:${a.start_line} ${a.title}: ${a.message}`)));
    $("annotations-section").hidden = d.annotations.length === 0;
    const timings = Object.entries(d.timings || {});
    $("timings").replaceChildren(...timings.map(([step, ms]) => {
      const row = element("tr");
      row.append(element("td", step), element("td", duration(ms)));
      return row;
    }));
    $("timings-section").hidden = timings.length === 0;

    $("actions").replaceChildren();
    const production = d.production;
    if (d.canDeploy && production) {
      if (production.deploymentId === d.id) {
        if (production.pinned) $("actions").append(button("Unpin production", () => act("unpin", d)));
        $("actions").append(button("Redeploy", () => act("redeploy", d)));
      }
      else if (production.deploymentId !== d.id && d.status === "ready" && !d.prunedAt) {
        const action = d.version < production.version ? "rollback" : "promote";
        $("actions").append(button(action === "rollback" ? `Roll back to v${d.version}` : `Promote v${d.version}`, () => act(action, d)));
      }
    }
  }

  async function act(action, d) {
    const question =
      action === "rollback" ? `Roll back ${d.functionName} to v${d.version}? Production is pinned until a promote.`
      : action === "promote" ? `Promote v${d.version} of ${d.functionName} to production?`
      : action === "redeploy" ? `Build v${d.version}'s commit of ${d.functionName} again, as a new version?`
      : `Unpin ${d.functionName}? Pushes to its branch go live again.`;
    if (!window.confirm(question)) return;
    try {
      const body = action === "unpin" ? undefined : action === "redeploy" ? { noCache: false } : { target: `v${d.version}` };
      const result = await api("POST", `/v1/functions/${encodeURIComponent(d.functionId)}/${action}`, body);
      if (action === "redeploy") {
        location.assign(`/deployments/${encodeURIComponent(result.deploymentId)}`);
        return;
      }
      show(action === "unpin" ? `${result.functionName}: unpinned at v${result.version}.` : `${result.functionName}: ${result.fromVersion ? `v${result.fromVersion} → ` : ""}v${result.toVersion}${result.pinned ? ", production pinned" : ""}`);
    } catch (error) {
      show(error.message, true);
    }
    await load();
  }

  function appendLog(text) {
    const log = $("log");
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(text);
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  function logEnded(status) {
    following = null;
    $("log-state").textContent = "";
    show(`Build ${status}.`);
    void load();
  }

  function followLog() {
    $("log").textContent = "";
    $("log-state").textContent = "(live)";
    const path = `/v1/deployments/${encodeURIComponent(deploymentId)}`;
    if (!session.token()) {
      const events = new EventSource(`${path}/log-events`);
      following = events;
      // Each connection (a reconnect too) streams the log from its start, after `status`.
      events.addEventListener("status", () => ($("log").textContent = ""));
      events.addEventListener("log", (event) => appendLog(JSON.parse(event.data)));
      events.addEventListener("end", (event) => {
        events.close();
        logEnded(JSON.parse(event.data).status);
      });
      return;
    }
    const abort = new AbortController();
    following = abort;
    void (async () => {
      const response = await fetch(`${path}/logs?follow=true`, { headers: { authorization: `Bearer ${session.token()}` }, signal: abort.signal });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        appendLog(value.replace(/\n\[slipway\] deployment \w+\n$/, ""));
      }
      logEnded("over");
    })().catch((error) => {
      if (!abort.signal.aborted) show(error.message, true);
    });
  }

  async function load() {
    try {
      const d = await api("GET", `/v1/deployments/${encodeURIComponent(deploymentId)}`);
      render(d);
      $("deployment").hidden = false;
      $("sign-in-prompt").hidden = true;
      $("who").textContent = session.whoText();
      $("sign-out").hidden = false;
      const building = d.status === "queued" || d.status === "building" || (d.status === "ready" && !d.settledAt);
      if (building && !following) followLog();
      // A cancelled build stores no log; what was streamed stays.
      else if (!building && !following && (d.logTail || !$("log").textContent)) $("log").textContent = d.logTail || "(no output)";
    } catch (error) {
      if (error instanceof session.UnauthorizedError) {
        $("sign-in-prompt").hidden = false;
        $("github-sign-in").hidden = !session.state.signInWithGithub;
        $("github-sign-in").setAttribute("href", session.signInUrl());
        $("deployment").hidden = true;
      }
      show(error.message, true);
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("sign-out").addEventListener("click", async () => {
      await session.signOut();
      location.assign("/dashboard");
    });
    await session.loadSession();
    await load();
  });
})();
