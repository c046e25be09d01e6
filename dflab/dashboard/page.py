"""The dashboard's HTML: one page of plain tables (readable without JavaScript) and the script that refreshes it.

Rendered by Jinja2 with autoescaping on: trainee ids, step titles and a job's one-line error are text, never markup.
The live part (``view``) is its own fragment so the script swaps it in each second from the same template the
first page load used: there is one renderer. The script and the style sheet are files of their own so the page's
Content-Security-Policy allows no inline code.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _percent(share: float | None) -> str:
    return "" if share is None else f"{100 * share:.0f} %"


def _number(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _time(text: str | None) -> str:
    """ISO 8601 UTC as ``HH:MM:SS`` (the date when it is not today's is in the title attribute)."""
    return text[11:19] if text else ""


_env.filters.update(duration=_duration, percent=_percent, number=_number, clock=_time)

VIEW = _env.from_string("""\
<section aria-labelledby="h-trainees">
<h2 id="h-trainees">Trainees</h2>
<p>Generated {{ data.generated_at|clock }} UTC. <em>Stuck</em>: running, and no answer done for
{{ data.stuck_after_minutes|round(1) }} minutes.</p>
<table id="trainees">
<thead><tr><th scope="col">trainee</th><th scope="col">lab</th><th scope="col">last activity (UTC)</th>
<th scope="col">steps done</th><th scope="col">on step</th><th scope="col">answers</th>
<th scope="col">checks (right/tries)</th><th scope="col">hints</th><th scope="col">stuck</th>
<th scope="col">collected</th><th scope="col">graded</th><th scope="col">score</th>
<th scope="col">action</th></tr></thead>
<tbody>
{% for t in data.trainees %}
<tr data-trainee="{{ t.id }}" class="{{ 'stuck' if t.stuck else '' }} {{ t.state }}">
<th scope="row">{{ t.id }}</th>
<td class="state" title="{{ t.problem }}">{{ t.state }}{% if t.problem %} ({{ t.problem }}){% endif %}</td>
<td class="activity" title="{{ t.last_activity or '' }}">{{ t.last_activity|clock }}</td>
<td class="steps">{{ t.steps_done }}/{{ t.steps_total }}</td>
<td class="current">{{ step_titles.get(t.current_step, '') }}</td>
<td class="answers">{{ t.answers_done }}/{{ t.answers_total }}</td>
<td class="checks">{{ t.right }}/{{ t.attempts }}</td>
<td class="hints">{{ t.hints }}</td>
<td class="stuck">{{ 'stuck' if t.stuck else '' }}</td>
<td class="collected">{{ t.collected or '' }}</td>
<td class="graded">{{ t.grading or '' }}</td>
<td class="score">{% if t.score is not none %}{{ '%g' % t.score }}/{{ '%g' % t.max_score }}{% endif %}</td>
<td>{% if t.state in ('dead', 'failed') %}<button type="button" data-action="restart" data-trainee="{{ t.id }}">
Restart {{ t.id }}</button>{% endif %}</td>
</tr>
{% endfor %}
</tbody>
</table>
</section>

<section aria-labelledby="h-steps">
<h2 id="h-steps">Steps</h2>
<img id="step-progress" src="chart/progress.svg?token={{ token }}&amp;v={{ progress_version }}"
 alt="Bar chart: trainees past each step (the table below has the numbers)">
<table id="steps">
<thead><tr><th scope="col">step</th><th scope="col">title</th><th scope="col">trainees past it</th>
<th scope="col">median time on it</th></tr></thead>
<tbody>
{% for s in data.steps %}
<tr data-step="{{ s.id }}"><th scope="row">{{ loop.index }}</th><td>{{ s.title }}</td>
<td class="past">{{ s.past }} of {{ data.trainees|length }}</td><td>{{ s.median_seconds|duration }}</td></tr>
{% endfor %}
</tbody>
</table>
</section>

<section aria-labelledby="h-results">
<h2 id="h-results">Results</h2>
{% if data.gradebook.problem %}<p id="gradebook-problem">{{ data.gradebook.problem }}</p>{% endif %}
{% if data.grading %}
{% set g = data.grading %}
<p id="graded">{{ g.graded }} graded ({{ g.statuses.rejected }} rejected, {{ g.statuses.failed }} failed,
{{ g.statuses.missing }} missing){% if g.mean_percent is not none %}; mean {{ '%.0f' % g.mean_percent }} %{% endif %}.
</p>
<img id="score-histogram" src="chart/scores.svg?token={{ token }}&amp;v={{ scores_version }}"
 alt="Histogram of scores (the table below has the numbers)">
<table id="histogram">
<caption>Score distribution</caption>
<thead><tr><th scope="col">score (% of the maximum)</th><th scope="col">trainees</th></tr></thead>
<tbody>{% for b in g.histogram %}<tr><th scope="row">{{ b.from }}–{{ b.to }} %</th><td>{{ b.trainees }}</td></tr>
{% endfor %}</tbody>
</table>
<table id="questions">
<caption>Per question: difficulty is the share with full points; discrimination the corrected point-biserial
correlation with the rest of the score (below 0.2: the question separates strong and weak work poorly).</caption>
<thead><tr><th scope="col">question</th><th scope="col">graded</th><th scope="col">correct</th>
<th scope="col">difficulty</th><th scope="col">discrimination</th></tr></thead>
<tbody>{% for q in g.questions %}<tr data-question="{{ q.name }}"><th scope="row">{{ q.name }}</th>
<td>{{ q.graded }}</td><td>{{ q.correct }}</td><td class="difficulty">{{ q.difficulty|percent }}</td>
<td class="discrimination">{{ q.discrimination|number }}</td></tr>
{% endfor %}</tbody>
</table>
{% else %}
<p id="not-graded">Not graded yet: collect, then grade.</p>
{% endif %}
</section>

<section aria-labelledby="h-jobs">
<h2 id="h-jobs">Actions</h2>
<table id="jobs">
<thead><tr><th scope="col">#</th><th scope="col">action</th><th scope="col">state</th><th scope="col">progress</th>
<th scope="col">result</th></tr></thead>
<tbody>{% for j in jobs %}<tr data-job="{{ j.id }}" class="{{ j.state }}"><th scope="row">{{ j.id }}</th>
<td>{{ j.action }}{% if j.trainee %} {{ j.trainee }}{% endif %}</td><td class="job-state">{{ j.state }}</td>
<td>{{ j.progress }}</td><td class="job-result">{{ j.result }}</td></tr>
{% else %}<tr><td colspan="5">none yet</td></tr>{% endfor %}</tbody>
</table>
</section>
""")

PAGE = _env.from_string("""\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dflab: {{ data.title }}</title>
{% if xsrf %}<meta name="dflab-xsrf" content="{{ xsrf }}">
{% endif %}<link rel="stylesheet" href="static/dashboard.css">
<script src="static/dashboard.js" defer></script>
</head>
<body>
<header>
<h1>{{ data.title }} <small>({{ data.lab }}, {{ data.trainees|length }} trainees)</small></h1>
<p class="session">{{ data.session }}</p>
<div role="group" aria-label="Session actions">
<button type="button" data-action="collect">Collect</button>
<button type="button" data-action="grade">Grade</button>
<button type="button" data-action="release-feedback">Release feedback</button>
</div>
<p id="message" role="status" aria-live="polite"></p>
</header>
<main id="live">
{{ view }}
</main>
</body>
</html>
""")

SCRIPT = """\
// Refresh the live part each second; send actions as POST with the token in a header (never in a URL).
// Behind JupyterHub a cookie authenticates instead, and every request carries the page's anti-forgery token.
"use strict";
(function () {
  const token = new URLSearchParams(location.search).get("token") || "";
  const xsrf = document.querySelector('meta[name="dflab-xsrf"]');
  const headers = xsrf ? {"X-XSRFToken": xsrf.content} : {"X-Dflab-Token": token};
  const live = () => document.getElementById("live");
  const say = (text) => { document.getElementById("message").textContent = text; };
  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const response = await fetch("view", {headers, cache: "no-store"});
      if (response.ok) live().innerHTML = await response.text();
      else say("refresh: " + response.status + " " + (await response.text()));
    } catch (e) {
      say("refresh: the dashboard does not answer");
    } finally {
      busy = false;
    }
  }
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const body = JSON.stringify({trainee: button.dataset.trainee || null});
    const response = await fetch("api/actions/" + button.dataset.action,
      {method: "POST", headers: {...headers, "Content-Type": "application/json"}, body});
    const reply = await response.json().catch(() => ({error: response.statusText}));
    say(response.ok ? button.textContent.trim() + ": started" : reply.error);
    refresh();
  });
  setInterval(refresh, 1000);
})();
"""

STYLE = """\
body { font-family: sans-serif; margin: 1rem 2rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #bbb; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
thead th { background: #eee; }
tr.stuck td.stuck { background: #fce94f; font-weight: bold; }
tr.dead td.state, tr.failed td.state, tr.failed td.job-state { color: #a40000; font-weight: bold; }
caption { text-align: left; font-style: italic; padding: 0.2rem 0; max-width: 50rem; }
img { max-width: 100%; display: block; }
button { margin-right: 0.5rem; padding: 0.3rem 0.8rem; }
#message { min-height: 1.2em; }
#gradebook-problem { color: #a40000; font-weight: bold; }
"""


def view(data: dict[str, Any], jobs: list[dict[str, Any]], token: str, versions: dict[str, str]) -> str:
    """The live part: trainees, steps, results, actions."""
    return VIEW.render(data=data, jobs=jobs, token=token, step_titles={s["id"]: s["title"] for s in data["steps"]},
                       progress_version=versions.get("progress", ""), scores_version=versions.get("scores", ""))


def page(data: dict[str, Any], live_view: str, xsrf: str = "") -> str:
    """The whole page around :func:`view`'s output; ``xsrf``: the anti-forgery token the script sends with each
    request when a cookie authenticates (behind JupyterHub), none with the instructor's token."""
    return PAGE.render(data=data, view=Markup(live_view), xsrf=xsrf)  # noqa: S704 -- rendered by VIEW, autoescaped
