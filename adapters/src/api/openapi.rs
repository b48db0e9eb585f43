//! `GET /openapi.json`: the OpenAPI 3.1 description of every route in [`super::ROUTES`].

use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"type": "object"}}}})
}

fn body(schema: Value) -> Value {
    json!({"required": false, "content": {"application/json": {"schema": schema}}})
}

fn operation(summary: &str, request: Option<Value>, responses: Value) -> Value {
    let mut op = json!({"summary": summary, "responses": responses});
    if let Some(request) = request {
        op["requestBody"] = request;
    }
    op
}

fn path_param(name: &str) -> Value {
    json!([{"name": name, "in": "path", "required": true, "schema": {"type": "string"}}])
}

/// The document.
pub(crate) fn openapi() -> Value {
    let source = json!({"type": "string", "default": "default"});
    let mut paths = serde_json::Map::new();
    let mut add = |path: &str, method: &str, op: Value| {
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        if path.contains('{') {
            let name = &path[path.find('{').unwrap_or(0) + 1..path.find('}').unwrap_or(0)];
            entry["parameters"] = path_param(name);
        }
        entry[method] = op;
    };
    add(
        "/v1/status",
        "get",
        operation(
            "Status: open and running requests, live runs, sources, blockers, ETA",
            None,
            json!({"200": ok("the status")}),
        ),
    );
    add(
        "/v1/requests",
        "get",
        operation(
            "Every kept request, newest first",
            None,
            json!({"200": ok("{\"requests\": [...]}")}),
        ),
    );
    add(
        "/v1/requests",
        "post",
        operation(
            "Ask for a restart or update (joins the open request if there is one)",
            Some(body(
                json!({"type": "object", "required": ["kind"], "additionalProperties": false, "properties": {
            "kind": {"enum": ["restart", "update"]}, "reason": {"type": "string", "maxLength": 500},
            "idle_seconds": {"type": "integer", "minimum": 0, "maximum": 604_800},
            "window": {"enum": ["any"], "description": "start outside the maintenance windows (admins only; audited)"}}}),
            )),
            json!({"201": ok("a new request"), "200": ok("deduplicated into the open request"), "400": error_response("invalid body"), "403": error_response("forbidden (e.g. window any asked by an agent)"), "409": error_response("update_not_configured")}),
        ),
    );
    for verb in ["cancel", "approve", "reject"] {
        add(
            &format!("/v1/requests/{{id}}/{verb}"),
            "post",
            operation(
                &format!("{verb} a request (id, short id or unique prefix)"),
                None,
                json!({"200": ok("the request"), "403": error_response("forbidden"), "404": error_response("not found"), "409": error_response("the request cannot do that now")}),
            ),
        );
    }
    add(
        "/v1/tool",
        "post",
        operation(
            "Run the agent tool (its JSON in, its result out; always 200 unless the body is not JSON)",
            Some(body(json!({"type": "object"}))),
            json!({"200": ok("the tool result"), "400": error_response("not JSON")}),
        ),
    );
    add(
        "/v1/runs",
        "post",
        operation(
            "Begin an agent run: returns a lease to heartbeat and end",
            Some(body(
                json!({"type": "object", "required": ["session"], "additionalProperties": false, "properties": {"session": {"type": "string"}, "source": source, "agent": {"type": "string"}}}),
            )),
            json!({"200": ok("{\"lease\", \"ttl_seconds\"}"), "409": error_response("executing: maintenance is running; retry after retry_after_seconds")}),
        ),
    );
    add(
        "/v1/runs/{lease}/heartbeat",
        "post",
        operation(
            "Renew a lease (an unknown lease is registered again after lull restarted)",
            Some(body(
                json!({"type": "object", "additionalProperties": false, "properties": {"session": {"type": "string"}, "source": source}}),
            )),
            json!({"200": ok("renewed or re-registered"), "409": error_response("executing"), "410": error_response("lease_expired: begin again")}),
        ),
    );
    add(
        "/v1/runs/{lease}",
        "delete",
        operation(
            "End a run",
            Some(body(
                json!({"type": "object", "properties": {"source": source}}),
            )),
            json!({"200": ok("{\"ended\": bool}")}),
        ),
    );
    add(
        "/v1/activity",
        "post",
        operation(
            "Report an inbound chat message addressed to the agent",
            Some(body(
                json!({"type": "object", "properties": {"source": source, "session": {"type": "string"}}}),
            )),
            json!({"200": ok("noted")}),
        ),
    );
    add(
        "/v1/heartbeat",
        "post",
        operation(
            "Mark an activity source alive",
            Some(body(
                json!({"type": "object", "required": ["source"], "properties": {"source": {"type": "string"}}}),
            )),
            json!({"200": ok("noted"), "400": error_response("invalid body")}),
        ),
    );
    add(
        "/v1/drain",
        "post",
        operation(
            "The host is draining for ttl_seconds: nothing starts meanwhile",
            Some(body(
                json!({"type": "object", "required": ["ttl_seconds"], "properties": {"ttl_seconds": {"type": "integer", "minimum": 1, "maximum": 604_800}}}),
            )),
            json!({"200": ok("{\"drain\"}"), "403": error_response("needs the admin token")}),
        ),
    );
    add(
        "/v1/drain",
        "delete",
        operation(
            "End the host drain",
            None,
            json!({"200": ok("{\"drain\": null}")}),
        ),
    );
    add(
        "/v1/pause",
        "post",
        operation(
            "Pause all execution (for for_seconds, or until resumed)",
            Some(body(
                json!({"type": "object", "properties": {"for_seconds": {"type": "integer", "minimum": 1}, "reason": {"type": "string"}}}),
            )),
            json!({"200": ok("{\"pause\"}")}),
        ),
    );
    add(
        "/v1/resume",
        "post",
        operation(
            "Resume execution",
            None,
            json!({"200": ok("{\"pause\": null}")}),
        ),
    );
    add(
        "/v1/release",
        "post",
        operation(
            "Release the hold of a (wedged) run's session; audited",
            Some(body(
                json!({"type": "object", "required": ["session"], "properties": {"session": {"type": "string"}}}),
            )),
            json!({"200": ok("{\"released\": n}"), "404": error_response("no live run in that session")}),
        ),
    );
    add(
        "/healthz",
        "get",
        operation("Liveness", None, json!({"200": ok("{\"ok\": true}")})),
    );
    add(
        "/metrics",
        "get",
        operation(
            "Prometheus metrics",
            None,
            json!({"200": {"description": "Prometheus text", "content": {"text/plain": {}}}}),
        ),
    );
    add(
        "/openapi.json",
        "get",
        operation("This document", None, json!({"200": ok("OpenAPI 3.1")})),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "lull control API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Over the profile's Unix socket every caller is an admin; over TCP a bearer token names admin or agent."},
        "paths": paths,
        "components": {"schemas": {"Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}}},
    })
}
