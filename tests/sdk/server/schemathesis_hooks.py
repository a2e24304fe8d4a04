"""A schemathesis check of our own, loaded by the fuzz test (SCHEMATHESIS_HOOKS): every 4xx in OpenAI's error shape."""

import json

import schemathesis


@schemathesis.check
def openai_error_body(ctx, response, case):
    if 400 <= response.status_code < 500:
        body = json.loads(response.content)
        if set(body) != {"error"} or set(body["error"]) != {"message", "type", "param", "code"}:
            raise AssertionError(f"a {response.status_code} without OpenAI's error body: {body}")
        if not body["error"]["message"] or not body["error"]["code"]:
            raise AssertionError(f"a {response.status_code} with an empty message or code: {body}")
