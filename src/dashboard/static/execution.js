// An execution's page (/executions/<id>), linked from the dashboard's executions list: its
// function and deployment, trigger, status, request line, response status, duration, times,
// logs and errors. While it waits or runs, the page follows it (Server-Sent Events, sent
// again whenever it changes) and settles when it has finished. Text only ever as textContent.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const session = window.slipwayConsole;
  const { api, element, duration } = session;
  const executionId = decodeURIComponent(location.pathname.split("/")[2] || "");
  const finished = new Set(["completed", "failed", "timed_out"]);
  let stopFollowing = null;

  function show(text, isError = false) {
    $("message").textContent = text;
    $("message").className = isError ? "error" : "";
  }

  function fact(term, ...values) {
    const dd = element("dd");
    dd.append(...values.map((v) => (typeof v === "string" ? document.createTextNode(v) : v)));
    $("facts").append(element("dt", term), dd);
  }

  const when = (time) => (time ? new Date(time).toLocaleString() : "–");
  const statusClass = (status) => (status === "completed" ? "ready" : finished.has(status) ? "failed" : "building");

  function render(e) {
    document.title = `${e.requestMethod} ${e.requestPath} · ${e.functionName} · Slipway`;
    $("title").textContent = `${e.functionName}: ${e.requestMethod} ${e.requestPath}`;
    $("status").textContent = e.status.replace("_", " ");
    $("status").className = `badge status-${statusClass(e.status)}`;
    $("facts").replaceChildren();
    fact("function", `${e.functionName} (${e.owner}/${e.repo})`);
    if (e.deploymentId) fact("deployment", element("a", e.deploymentVersion ? `v${e.deploymentVersion}` : e.deploymentId, { href: `/deployments/${encodeURIComponent(e.deploymentId)}` }));
    fact("trigger", e.event ? `${e.trigger} (${e.event})` : e.trigger);
    fact("request", element("code", `${e.requestMethod} ${e.requestPath}`));
    fact("response", e.responseStatusCode === null ? "–" : String(e.responseStatusCode));
    fact("duration", e.durationMs === null ? "–" : duration(e.durationMs));
    if (e.scheduledAt) fact("scheduled for", when(e.scheduledAt));
    fact("created", when(e.createdAt));
    fact("started", when(e.startedAt));
    fact("finished", when(e.finishedAt));
    $("logs").textContent = e.logs || "(none)";
    $("errors").textContent = e.errors || "(none)";
    $("errors").className = e.errors ? "errors" : "";
  }

  function showSignIn(error) {
    $("sign-in-prompt").hidden = false;
    $("github-sign-in").hidden = !session.state.signInWithGithub;
    $("github-sign-in").setAttribute("href", session.signInUrl());
    $("execution").hidden = true;
    show(error.message, true);
  }

  async function load() {
    try {
      const e = await api("GET", `/v1/console/executions/${encodeURIComponent(executionId)}`);
      render(e);
      $("execution").hidden = false;
      $("who").textContent = session.whoText();
      $("sign-out").hidden = false;
      if (finished.has(e.status)) return;
      $("live-state").textContent = "(live)";
      stopFollowing = session.follow(`/v1/console/executions/${encodeURIComponent(executionId)}/events`, {
        execution: render,
        end: ({ status }) => {
          stopFollowing();
          $("live-state").textContent = "";
          show(`Execution ${status.replace("_", " ")}.`);
        },
      });
    } catch (error) {
      if (error instanceof session.UnauthorizedError) showSignIn(error);
      else show(error.message, true);
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("sign-out").addEventListener("click", async () => {
      if (stopFollowing) stopFollowing();
      await session.signOut();
      location.assign("/dashboard");
    });
    await session.loadSession();
    await load();
  });
})();
