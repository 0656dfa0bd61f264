"""The app as an MCP server (launch(mcp_server=True), gradio[mcp]): an MCP client on 127.0.0.1 lists its tools and
calls classify_text and explain_text, which answer as the library does and keep the demo's budgets."""

import asyncio

import pytest

pytest.importorskip("gradio")
pytest.importorskip("mcp")

from longbert import Chunking
from ui import config, demo, layout, models, views


@pytest.fixture(scope="module")
def server(model_dir):
    from bench.load import free_port

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LONGBERT_MODEL", str(model_dir))
        patch.setenv("LONGBERT_IMDB", "sample")
        blocks = layout.build_app().queue(default_concurrency_limit=2)
        port = free_port()
        assert layout.LAUNCH["mcp_server"] is True
        blocks.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                      **layout.LAUNCH)  # fmt: skip
        yield f"http://127.0.0.1:{port}/gradio_api/mcp/"
        blocks.close()


def session_call(url: str, work):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run():
        async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as session:
            await session.initialize()
            return await work(session)

    return asyncio.run(run())


def result_json(result) -> dict:
    import json

    assert not result.isError, result
    return json.loads(result.content[0].text)


def test_an_mcp_client_lists_the_tools_and_classifies_and_explains(server, model_dir, monkeypatch):
    monkeypatch.setenv("LONGBERT_MODEL", str(model_dir))
    review = views.readable(demo.example_reviews()[1])

    async def work(session):
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        answer = await session.call_tool("classify_text", {"text": review, "chunk_size": 256, "stride": 128,
                                                           "minimal_chunk_size": 1, "pooling": "max"})  # fmt: skip
        why = await session.call_tool("explain_text", {"text": review, "chunk_size": 128, "stride": 128})
        monkeypatch.setattr(config, "DEMO_TOKENS", 1_000)
        refused = await session.call_tool("classify_text", {"text": review})
        return tools, answer, why, refused

    tools, answer, why, refused = session_call(server, work)
    assert {"classify_text", "explain_text"} <= set(tools)
    schema = tools["classify_text"].inputSchema["properties"]
    assert schema["chunk_size"]["type"] == "integer" and "tokens per chunk" in schema["chunk_size"]["description"]
    assert "any length" in tools["classify_text"].description
    record = result_json(answer)
    expected = models.classifier_for(str(model_dir)).predict(review, Chunking(256, 128, 1), "max")[0]
    assert record["label"] == expected.label and record["num_chunks"] == len(expected.chunks)
    assert record["probabilities"][expected.label] == pytest.approx(max(expected.probabilities), abs=1e-4)
    assert record["engine"].startswith("torch ") and record["setting"] == "chunk 256/128/1, max"
    evidence = result_json(why)["evidence"]
    assert evidence and all(set(e) == {"span", "effect"} for e in evidence)
    assert "This demo request would score" in result_json(refused)["error"], "the same budgets as the page"
