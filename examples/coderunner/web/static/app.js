// The playground's script: loads the languages, keeps a draft per
// language, posts the program to /run and shows what came of it. Output
// is always set as text (textContent), never as HTML.
"use strict";

const templates = {
  sh: 'echo "Hello, world!"\n',
  python3: 'print("Hello, world!")\n',
  c: '#include <stdio.h>\n\nint main(void) {\n    printf("Hello, world!\\n");\n    return 0;\n}\n',
  cpp: '#include <iostream>\n\nint main() {\n    std::cout << "Hello, world!" << std::endl;\n    return 0;\n}\n',
  go: 'package main\n\nimport "fmt"\n\nfunc main() {\n    fmt.Println("Hello, world!")\n}\n',
  javascript: 'console.log("Hello, world!");\n',
};

const limitFields = ["wall_ms", "cpu_ms", "memory_mb", "pids", "output_kb"];
const $ = (id) => document.getElementById(id);

const drafts = {}; // language -> the code last edited in it
let current = ""; // the language whose draft the editor shows
let leaveEditor = false; // Esc was pressed: the next Tab moves focus
let runs = 0; // runs ended, answered or not

function authHeaders() {
  const token = $("token").value.trim();
  return token ? { Authorization: "Bearer " + token } : {};
}

// api fetches path and decodes its JSON body (null if it has none). It
// throws only when the server cannot be reached.
async function api(path, init) {
  const resp = await fetch(path, init);
  let body = null;
  try {
    body = await resp.json();
  } catch (e) {
    // not JSON: an error page from a proxy, say; the status says enough
  }
  return { status: resp.status, headers: resp.headers, body };
}

// serverError is the human message for a non-200 answer.
function serverError(r) {
  const why = r.body && r.body.error ? r.body.error : "HTTP " + r.status;
  switch (r.status) {
    case 400:
      return "Request rejected: " + why;
    case 401:
      return "Not authorized: " + why + " (set the bearer token under \u201cInput, limits and token\u201d)";
    case 429: {
      const s = parseInt(r.headers.get("Retry-After"), 10);
      return Number.isFinite(s) ? `Server busy, retry in ${s} s` : "Server busy, retry shortly";
    }
    case 503:
      return "Server unavailable: " + why;
    default:
      return `Server error (${r.status}): ${why}`;
  }
}

function setStatus(text, kind) {
  const s = $("status");
  s.textContent = text;
  s.className = kind || "";
}

async function loadLanguages() {
  const sel = $("language");
  let r;
  try {
    r = await api("/languages", { headers: authHeaders() });
  } catch (e) {
    setStatus("Could not reach the server: " + e.message, "error");
    return;
  }
  if (r.status !== 200 || !Array.isArray(r.body)) {
    setStatus("Could not load the languages. " + serverError(r), "error");
    return;
  }
  sel.replaceChildren();
  for (const l of r.body) {
    const o = document.createElement("option");
    o.value = l.name;
    o.textContent = l.version ? `${l.name} \u2014 ${l.version}` : l.name;
    sel.append(o);
  }
  if (r.body.length === 0) {
    setStatus("The server offers no languages.", "error");
    return;
  }
  if (r.body.some((l) => l.name === "python3")) sel.value = "python3";
  sel.disabled = false;
  $("run").disabled = false;
  switchLanguage();
  setStatus("Ready.");
}

function switchLanguage() {
  if (current) drafts[current] = $("source").value;
  current = $("language").value;
  $("source").value = drafts[current] ?? templates[current] ?? "";
}

// limits returns the limits the user filled in, as numbers, or undefined.
function limits() {
  const out = {};
  for (const f of limitFields) {
    const v = $(f).value.trim();
    if (v !== "") out[f] = Number(v);
  }
  return Object.keys(out).length ? out : undefined;
}

function mb(bytes) {
  return (bytes / (1 << 20)).toFixed(1) + " MB";
}

function ms(n) {
  return n >= 1000 ? (n / 1000).toFixed(2) + " s" : Math.round(n) + " ms";
}

// limitMessage says which limit ended step, with its value where known
// (the value the user asked for; otherwise it was the server's default).
function limitMessage(step, lim) {
  lim = lim || {};
  const v = (f, unit) => (lim[f] ? ` (${lim[f]} ${unit})` : " (the server's default)");
  switch (step.limit || (step.oom_killed ? "memory" : "")) {
    case "memory":
      return "Memory limit exceeded" + v("memory_mb", "MB");
    case "wall_time":
      return "Time limit exceeded" + v("wall_ms", "ms");
    case "cpu_time":
      return "CPU time limit exceeded" + v("cpu_ms", "ms");
    case "pids":
      return "Process limit exceeded" + v("pids", "processes");
    case "output":
      return "Output limit exceeded" + v("output_kb", "KB");
    default:
      return "Limit exceeded: " + step.limit;
  }
}

function exitText(step) {
  if (step.signal) return "ended by signal: " + step.signal;
  return "exit code " + step.exit_code;
}

function stepFacts(name, step) {
  const parts = [exitText(step), ms(step.wall_ms) + " wall", ms(step.cpu_ms) + " CPU"];
  parts.push(step.memory_peak_bytes ? mb(step.memory_peak_bytes) + " peak memory" : "peak memory unknown");
  return name + ": " + parts.join(", ");
}

function show(boxId, preId, text, truncated) {
  const has = text !== undefined && text !== null && text !== "";
  $(preId).textContent = has ? text + (truncated ? "\n[\u2026 truncated at the output limit]" : "") : "";
  $(boxId).hidden = !has;
}

function clearResult() {
  $("facts").textContent = "";
  for (const b of ["compile", "stdout", "stderr"]) show(b + "-box", b === "compile" ? "compile-output" : b, "");
}

function render(res, lim) {
  const c = res.compile;
  const run = res.run;
  let msg;
  let kind = "error";
  switch (res.outcome) {
    case "ok":
      msg = "Finished: " + exitText(run);
      kind = "ok";
      break;
    case "nonzero":
      msg = "Program failed: " + exitText(run);
      break;
    case "compile_error":
      msg = c && c.limit ? "Compile step: " + limitMessage(c, lim) : "Compile error: " + (c ? exitText(c) : "no output");
      break;
    case "limit": {
      const s = c && c.limit ? c : run;
      msg = (s === c ? "Compile step: " : "") + limitMessage(s, lim);
      kind = "limit";
      break;
    }
    default:
      msg = "Outcome: " + res.outcome;
  }
  setStatus(msg, kind);
  const facts = [];
  if (c) facts.push(stepFacts("Compile", c));
  if (run) facts.push(stepFacts("Run", run));
  $("facts").textContent = facts.join("\n"); // one line per step (white-space: pre-line)
  if (c) show("compile-box", "compile-output", (c.stdout || "") + (c.stderr || ""), c.stdout_truncated || c.stderr_truncated);
  if (run) {
    show("stdout-box", "stdout", run.stdout, run.stdout_truncated);
    show("stderr-box", "stderr", run.stderr, run.stderr_truncated);
  }
}

async function run() {
  if ($("run").disabled) return;
  const lim = limits();
  const req = { language: $("language").value, source: $("source").value, stdin: $("stdin").value };
  if (lim) req.limits = lim;
  $("run").disabled = true;
  $("result").setAttribute("aria-busy", "true");
  $("source").removeAttribute("aria-invalid");
  clearResult();
  setStatus("Running\u2026", "busy");
  try {
    const r = await api("/run", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify(req),
    });
    if (r.status === 200 && r.body) {
      render(r.body, lim);
    } else {
      setStatus(serverError(r), "error");
      const field = r.body && r.body.field;
      if (field === "source" || field === "files") $("source").setAttribute("aria-invalid", "true");
    }
  } catch (e) {
    setStatus("Could not reach the server: " + e.message, "error");
  } finally {
    $("run").disabled = false;
    $("result").removeAttribute("aria-busy");
    runs++;
    $("result").dataset.runs = runs; // tells scripts (and the browser test) a run ended
  }
}

// insertText inserts s at the editor's cursor, keeping the undo history
// where the browser can.
function insertText(ta, s) {
  if (!document.execCommand || !document.execCommand("insertText", false, s)) {
    ta.setRangeText(s, ta.selectionStart, ta.selectionEnd, "end");
  }
}

function editorKey(e) {
  if (e.key === "Escape") {
    leaveEditor = true;
    return;
  }
  if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey) {
    if (leaveEditor) {
      leaveEditor = false;
      return; // the browser moves focus on
    }
    e.preventDefault();
    insertText(e.target, "    ");
    return;
  }
  leaveEditor = false;
}

document.addEventListener("DOMContentLoaded", () => {
  $("runner").addEventListener("submit", (e) => {
    e.preventDefault();
    run();
  });
  $("language").addEventListener("change", switchLanguage);
  $("source").addEventListener("keydown", editorKey);
  $("source").addEventListener("blur", () => (leaveEditor = false));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run();
    }
  });
  $("token").addEventListener("change", () => {
    if ($("language").disabled) loadLanguages();
  });
  loadLanguages();
});
