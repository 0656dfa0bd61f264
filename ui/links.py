"""Links that reopen the demo with its model and settings (setting B too, in compare mode), read as query
parameters when a page loads. A known review goes into a link by its id (an example by its number, a review from
the committed results, the sample or the reviews here by review_id and label); pasted text never does."""

from __future__ import annotations

import contextlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import gradio as gr

from longbert import POOLINGS, LongbertError
from ui import dashboard, demo, models, truth, views
from ui.controls import CUTS, whole_number

CONTROLS = ("chunk_size", "stride", "minimal", "pooling", "cut")


def review_reference(text: str) -> dict[str, str]:
    """The link's name for the review in the box: an example's number, else the id and label of a review the page
    knows (ui.truth: the committed results' disagreements, the sample, the reviews here), else none."""
    shown = views.readable(text or "").strip()
    if not shown:
        return {}
    for number, example in enumerate(demo.example_reviews()):
        if views.readable(example).strip() == shown:
            return {"example": str(number)}
    label, review_id = truth.known_labels().get(truth.key(shown), (None, None))
    return {} if review_id is None else {"review": str(review_id), "label": str(label)}


def link_for(page_url: str, model: str, text: str, controls_a: tuple, compare_on: bool, controls_b: tuple) -> str:
    """The page's address with the demo's state as query parameters (setting B's with a b_ prefix)."""
    query = {"model": model, **dict(zip(CONTROLS, map(str, controls_a)))}
    if compare_on:
        query |= {"compare": "1", **{f"b_{k}": str(v) for k, v in zip(CONTROLS, controls_b)}}
    query |= review_reference(text)
    scheme, host, path, _, _ = urlsplit(page_url or "")
    return urlunsplit((scheme, host, path or "/", urlencode(query), ""))


def setting_from(params: dict, prefix: str = "") -> tuple | None:
    """(chunk_size, stride, minimal, pooling, cut) from the link's parameters, or None where any is missing or bad."""
    try:
        numbers = [whole_number(params[f"{prefix}{k}"], k) for k in CONTROLS[:3]]
        pooling, cut = params[f"{prefix}pooling"], params[f"{prefix}cut"]
    except (KeyError, LongbertError):
        return None
    return (*numbers, pooling, cut) if pooling in POOLINGS and cut in CUTS else None


def review_from(params: dict) -> str | None:
    """The text a link names: an example by number, else a committed review (or one of the reviews here) by id."""
    with contextlib.suppress(KeyError, ValueError, IndexError, LongbertError):
        if "example" in params:
            return views.readable(demo.example_reviews()[int(params["example"])])
        if "review" in params:
            committed = [dashboard.results_at(d) for d in dashboard.result_sets().values()]
            review_id = int(params["review"])
            label = int(params["label"]) if "label" in params else None
            text = dashboard.review_text(review_id, *committed, label=label)
            return views.readable(text) if text is not None else None
    return None


def page_address(request) -> str:
    """The page's own address, as the browser shows it (the request's referer), else the server's root."""
    headers = dict(getattr(request, "headers", None) or {})
    return headers.get("referer") or f"http://{headers.get('host', '127.0.0.1:7860')}/"


def page_query(request) -> dict:
    """The page's query parameters (those of the address it was opened at)."""
    params = dict(getattr(request, "query_params", None) or {})
    return params or dict(parse_qsl(urlsplit(page_address(request)).query))


def share(model, text, chunk_size, stride, minimal, pooling, cut, compare_on, chunk_b, stride_b, minimal_b,
          pooling_b, cut_b, request: gr.Request = None) -> str:  # fmt: skip
    """The "link to these settings" box: this page's address with the demo's model, settings and review id."""
    controls_a = (chunk_size, stride, minimal, pooling, cut)
    controls_b = (chunk_b, stride_b, minimal_b, pooling_b, cut_b)
    return link_for(page_address(request), model, text, controls_a, bool(compare_on), controls_b)


def open_link(request: gr.Request = None) -> tuple:
    """On page load: the demo as a link set it (opened True, then the two runs classify), else nothing changes."""
    params = page_query(request)
    setting_a, setting_b = setting_from(params), setting_from(params, "b_")
    keep = (gr.update(),) * 13
    if setting_a is None:
        return False, *keep, gr.update()
    model = params.get("model")
    model = model if model in models.model_choices() else gr.update()
    text = review_from(params)
    compare_on = params.get("compare") == "1" and setting_b is not None
    b = setting_b if compare_on else keep[:5]
    return True, gr.update() if text is None else text, model, *setting_a, compare_on, *b, gr.Tabs(selected="demo")
