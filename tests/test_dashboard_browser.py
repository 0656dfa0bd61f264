"""The Evaluation tab over the committed results sets, in Debian's chromium: every set renders, and at 400 px every
plot keeps a usable height with its legend clear of its axis title."""

import os

import pytest

from bench.browser import CHROMIUM, CHROMIUM_ARGS
from bench.load import free_port
from ui import dashboard, layout

# The plot area (plotly's drag layer) of a chart at 400 px, and the gap its legend keeps from the x-axis title.
LEGEND_AND_TITLE = """[...document.querySelectorAll('.js-plotly-plot')].map(p => {
  const box = e => e ? e.getBoundingClientRect() : null;
  const area = box(p.querySelector('.nsewdrag')), legend = box(p.querySelector('.legend')),
        title = box(p.querySelector('.xtitle')), cells = [...p.querySelectorAll('.heatmaplayer text, .hm text')];
  return {title: (p.querySelector('.gtitle') || {}).textContent || '', area: area ? area.height : 0,
          legendTop: legend ? legend.top : null, titleBottom: title ? title.bottom : null,
          cellFont: cells.length ? Math.min(...cells.map(t => parseFloat(getComputedStyle(t).fontSize))) : null};
})"""


@pytest.fixture(scope="module")
def committed(model_dir):
    """The app on the tiny model with every committed results set on the dashboard."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LONGBERT_MODEL", str(model_dir))
        patch.delenv("LONGBERT_RESULTS", raising=False)
        patch.setenv("LONGBERT_IMDB", "sample")
        blocks = layout.build_app().queue(default_concurrency_limit=2, max_size=64)
        port = free_port()
        blocks.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **layout.LAUNCH)
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield f"http://127.0.0.1:{port}/", browser
            browser.close()
        blocks.close()


def evaluation_tab(browser, url: str, width: int):
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.get_by_role("tab", name="Evaluation").click()
    page.get_by_text("A minus B, by length").first.wait_for(timeout=60_000)
    return page, errors


def quiet(page) -> None:
    """Wait until no request is pending and the charts are drawn."""
    page.wait_for_timeout(500)
    page.wait_for_function("!document.querySelector('.progress-text, .eta-bar')", timeout=60_000)
    page.wait_for_timeout(800)


@pytest.mark.slow
def test_every_committed_results_set_renders_without_an_error(committed):
    url, browser = committed
    labels = list(dashboard.result_sets())
    assert len(labels) >= 4, "the committed sets: the settings study, the full split, sentences and ratings"
    page, errors = evaluation_tab(browser, url, 1400)
    for label in labels:
        page.get_by_label("Results", exact=True).click()
        page.get_by_role("option", name=label).click()
        quiet(page)
        description = label.split(":")[0]
        assert page.locator(".toast-body").count() == 0, f"an error toast for {description}"
        assert page.get_by_text("Error", exact=True).count() == 0, f"an error badge for {description}"
        assert page.locator(".js-plotly-plot").count() >= 4, f"the charts of {description}"
    assert not errors, errors


@pytest.mark.slow
def test_at_400_px_every_chart_keeps_its_height_and_its_legend_clear_of_its_axis_title(committed, tmp_path):
    url, browser = committed
    page, errors = evaluation_tab(browser, url, 400)
    quiet(page)
    charts = page.evaluate(LEGEND_AND_TITLE)
    assert len(charts) >= 5, charts
    for chart in charts:
        if chart["area"] == 0:  # a figure that only says why it is empty
            continue
        assert chart["area"] >= 150, f"{chart['title']!r} keeps a usable plot area at 400 px: {chart}"
        if chart["legendTop"] is not None and chart["titleBottom"] is not None:
            assert chart["legendTop"] >= chart["titleBottom"], f"{chart['title']!r}: legend over the axis title"
        if chart["cellFont"] is not None:
            assert chart["cellFont"] >= 9, f"{chart['title']!r}: heatmap labels readable at 400 px"
    assert not errors, errors
    page.screenshot(path=str(tmp_path / "evaluation-400.png"), full_page=True)
