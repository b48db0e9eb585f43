//! `GET /openapi.json`: the OpenAPI 3.1 description of every route in [`super::ROUTES`].
//!
//! It is the contract, checked by a property-based fuzzer (schemathesis, `--checks all`) in
//! `adapters/tests/it/api_contract.rs`. Request bodies are the JSON Schemas of the very types the
//! handlers parse (schemars, from their serde and schemars attributes: required fields, unknown
//! fields refused, lengths, patterns, ranges); every status a route can answer is listed.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use super::controls::{DrainBody, PauseBody, ReleaseBody};
use super::requests::SubmitBody;
use super::runs::{ActivityBody, HeartbeatBody, HeartbeatSourceBody, RunBody, SourceBody};

/// The JSON Schema of `T`, inlined (no `$ref`s into a document that has no `$defs`).
fn schema_of<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let mut schema =
        serde_json::to_value(generator.into_root_schema_for::<T>()).unwrap_or_default();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        object.remove("title");
    }
    schema
}

fn error(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"type": "object"}}}})
}

/// `response` with links from the request it returns to what can be done with it (so a stateful
/// fuzzer reaches cancel, approve and reject with real ids).
fn with_request_links(mut response: Value) -> Value {
    let link = |verb: &str| json!({"operationId": format!("{verb}Request"), "parameters": {"id": "$response.body#/request/id"}});
    response["links"] =
        json!({"cancel": link("cancel"), "approve": link("approve"), "reject": link("reject")});
    response
}

/// A body that must be there (its schema has required fields).
fn required_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

/// A body that may be left out (read as `{}`).
fn optional_body(schema: Value) -> Value {
    json!({"required": false, "content": {"application/json": {"schema": schema}}})
}

/// What every `/v1` route may answer besides its own: a missing or wrong bearer token over TCP,
/// and a store that failed.
fn with_common(mut responses: Value) -> Value {
    responses["401"] = error(
        "unauthorized: over TCP, a missing or wrong bearer token; on the relay's routes, no relay token when [relay].token_env is set",
    );
    if responses.get("403").is_none() {
        responses["403"] =
            error("forbidden: over TCP, the relay token outside the relay's routes and /v1/tool");
    }
    responses["500"] = error("internal: the store failed");
    responses
}

fn operation(summary: &str, request: Option<Value>, responses: Value) -> Value {
    let mut op = json!({"summary": summary, "responses": with_common(responses)});
    if let Some(request) = request {
        op["requestBody"] = request;
    }
    op
}

/// One activity source more than `max_sources`.
fn too_many_sources() -> Value {
    error("too_many_sources: lull already tracks max_sources sources; an admin forgets a stale one")
}

/// A lease another credential began (a run belongs to whoever began it; an admin may end any).
fn not_yours() -> Value {
    error(
        "forbidden: the lease was begun with another credential (socket, admin, agent); only it or an admin may heartbeat or end it",
    )
}

fn bad_body() -> Value {
    error(
        "invalid_json, invalid_body or a field out of range: the body is not what the schema says",
    )
}

/// A route that needs no token and reads no store (liveness, this document).
fn open_operation(summary: &str, responses: Value) -> Value {
    json!({"summary": summary, "security": [], "responses": responses})
}

/// The document.
pub(crate) fn openapi() -> Value {
    let admin_only = || error("forbidden: needs the admin token");
    let mut paths = serde_json::Map::new();
    let mut add = |path: &str, method: &str, op: Value| {
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
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
            Some(required_body(schema_of::<SubmitBody>())),
            json!({
                "201": with_request_links(ok("a new request")),
                "200": with_request_links(ok("deduplicated into the open request")),
                "400": bad_body(),
                "403": error("forbidden: e.g. window any asked by an agent"),
                "409": error("update_not_configured, invalid_state or conflict"),
            }),
        ),
    );
    for verb in ["cancel", "approve", "reject"] {
        let mut op = operation(
            &format!("{verb} a request (id, short id or unique prefix)"),
            None,
            json!({
                "200": ok("the request"),
                "403": error("forbidden"),
                "404": error("not_found"),
                "409": error("ambiguous, invalid_state or conflict: the request cannot do that now"),
            }),
        );
        op["operationId"] = json!(format!("{verb}Request"));
        add(&format!("/v1/requests/{{id}}/{verb}"), "post", op);
    }
    add(
        "/v1/tool",
        "post",
        operation(
            "Run the agent tool: any JSON in, its result out (`ok: false` with a code for a bad call)",
            Some(required_body(json!({}))),
            json!({"200": ok("the tool's result"), "400": error("invalid_json: the body is not JSON")}),
        ),
    );
    let mut audit = operation(
        "The audit log's newest entries (of one request), oldest first; admin",
        None,
        json!({
            "200": ok("{\"entries\": [{\"seq\", \"at\", \"actor\", \"action\", \"request\"?, \"detail\"?}]}"),
            "400": error("invalid_query: limit is 1 to 10000; the parameters are limit and request"),
            "403": admin_only(),
            "404": error("not_found: no request matches"),
            "409": error("ambiguous: the request prefix matches several"),
        }),
    );
    audit["parameters"] = json!([
        {"name": "limit", "in": "query", "required": false,
         "schema": {"type": "integer", "minimum": 1, "maximum": 10000}},
        {"name": "request", "in": "query", "required": false,
         "schema": {"type": "string", "minLength": 1}},
    ]);
    add("/v1/audit", "get", audit);
    add(
        "/v1/runs",
        "post",
        operation(
            "Begin an agent run: returns a lease to heartbeat and end",
            Some(required_body(schema_of::<RunBody>())),
            json!({
                "200": ok("{\"lease\", \"ttl_seconds\"}"),
                "400": bad_body(),
                "409": error("executing: maintenance is running; retry after retry_after_seconds"),
            }),
        ),
    );
    add(
        "/v1/runs/{lease}/heartbeat",
        "post",
        operation(
            "Renew a lease (an unknown lease is registered again after lull restarted)",
            Some(optional_body(schema_of::<HeartbeatBody>())),
            json!({
                "200": ok("renewed or re-registered"),
                "400": bad_body(),
                "403": not_yours(),
                "409": error("executing"),
                "410": error("lease_expired: begin again"),
            }),
        ),
    );
    add(
        "/v1/runs/{lease}",
        "delete",
        operation(
            "End a run",
            Some(optional_body(schema_of::<SourceBody>())),
            json!({"200": ok("{\"ended\": bool}"), "400": bad_body(), "403": not_yours()}),
        ),
    );
    add(
        "/v1/activity",
        "post",
        operation(
            "Report an inbound chat message addressed to the agent",
            Some(optional_body(schema_of::<ActivityBody>())),
            json!({"200": ok("noted"), "400": bad_body(), "409": too_many_sources()}),
        ),
    );
    add(
        "/v1/heartbeat",
        "post",
        operation(
            "Mark an activity source alive",
            Some(required_body(schema_of::<HeartbeatSourceBody>())),
            json!({"200": ok("noted"), "400": bad_body(), "409": too_many_sources()}),
        ),
    );
    add(
        "/v1/sources/{name}",
        "delete",
        operation(
            "Forget an activity source (a stale or invented one requests would wait on); audited",
            None,
            json!({
                "200": ok("{\"forgotten\": name}"),
                "400": error("invalid_source: 1 to 100 characters, no control characters"),
                "403": admin_only(),
                "404": error("not_found: lull tracks no such source"),
            }),
        ),
    );
    add(
        "/v1/drain",
        "post",
        operation(
            "The host is draining for ttl_seconds: nothing starts meanwhile",
            Some(required_body(schema_of::<DrainBody>())),
            json!({"200": ok("{\"drain\"}"), "400": bad_body(), "403": admin_only()}),
        ),
    );
    add(
        "/v1/drain",
        "delete",
        operation(
            "End the host drain",
            None,
            json!({"200": ok("{\"drain\": null}"), "403": admin_only()}),
        ),
    );
    add(
        "/v1/pause",
        "post",
        operation(
            "Pause all execution (for for_seconds, or until resumed)",
            Some(optional_body(schema_of::<PauseBody>())),
            json!({"200": ok("{\"pause\"}"), "400": bad_body(), "403": admin_only()}),
        ),
    );
    add(
        "/v1/resume",
        "post",
        operation(
            "Resume execution",
            None,
            json!({"200": ok("{\"pause\": null}"), "403": admin_only()}),
        ),
    );
    add(
        "/v1/release",
        "post",
        operation(
            "Release the hold of a (wedged) run's session; audited",
            Some(required_body(schema_of::<ReleaseBody>())),
            json!({
                "200": ok("{\"released\": n}"),
                "400": bad_body(),
                "403": admin_only(),
                "404": error("not_found: no live run in that session"),
            }),
        ),
    );
    add(
        "/v1/fleet/release",
        "post",
        operation(
            "[fleet]: give back this replica's kept fleet slot (after a failed restart); audited",
            None,
            json!({
                "200": ok("{\"released\": the hold}"),
                "403": admin_only(),
                "404": error("not_found: this replica holds no fleet slot, or [fleet] is not configured"),
                "409": error("conflict: the slot is in use by the executing request, or the lock service did not answer"),
            }),
        ),
    );
    add_relay(&mut add);
    add(
        "/healthz",
        "get",
        open_operation("Liveness", json!({"200": ok("{\"ok\": true}")})),
    );
    add(
        "/metrics",
        "get",
        operation(
            "Prometheus metrics",
            None,
            json!({"200": {"description": "Prometheus text", "content": {"text/plain": {"schema": {"type": "string"}}}}}),
        ),
    );
    add(
        "/openapi.json",
        "get",
        open_operation("This document", json!({"200": ok("OpenAPI 3.1")})),
    );
    for (path, item) in &mut paths {
        if let Some(start) = path.find('{') {
            let name = &path[start + 1..path.find('}').unwrap_or(path.len())];
            item["parameters"] = json!([path_parameter(name)]);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "lull control API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Over the profile's Unix socket every caller is an admin, named by the socket's peer credentials; over TCP a bearer token names admin or agent."},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "TCP: the value of api.admin_token_env or api.agent_token_env; the relay's routes and /v1/tool also take [relay].token_env's (required on them, also on the socket, when set)"}},
            "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}},
        },
    })
}

/// A button of a prompt, as the relay hands it out.
fn button_schema() -> Value {
    json!({"type": "object", "required": ["label", "payload", "style"], "properties": {
        "label": {"type": "string"},
        "payload": {"type": "string", "description": "sent back as a command's click"},
        "style": {"enum": ["primary", "danger", "secondary"]},
    }})
}

/// The relay's routes (docs/relay.md).
fn add_relay(add: &mut impl FnMut(&str, &str, Value)) {
    let not_configured = || error("relay_not_configured: lull.toml has no [relay] section");
    let forbidden = || {
        error("forbidden: over TCP without a relay token, only the admin token may call the relay")
    };
    let reply = json!({"type": ["object", "null"], "required": ["text", "markdown", "ephemeral", "buttons"], "properties": {
        "text": {"type": "string"},
        "markdown": {"type": "string"},
        "ephemeral": {"type": "boolean"},
        "buttons": {"type": "array", "items": button_schema()},
        "request": {"type": "string"},
    }});
    let answer = json!({"description": "lull's reply, or null when the text is not lull's", "content": {"application/json": {"schema": {
        "type": "object", "required": ["reply"], "properties": {"reply": reply}}}}});
    add(
        "/v1/relay/commands",
        "post",
        operation(
            "A command a user of the host typed (text) or a button they clicked (click); each event_id is applied once and answered alike",
            Some(required_body(schema_of::<crate::relay::CommandBody>())),
            json!({
                "200": answer,
                "400": bad_body(),
                "403": forbidden(),
                "404": not_configured(),
                "409": error("in_progress: a copy of this event_id is being handled; ask again for its answer"),
                "503": error("store_unreadable: lull could not tell whether the event was handled; nothing was done"),
            }),
        ),
    );
    let notice = json!({"type": "object", "required": ["id", "chat", "text", "markdown", "buttons", "request"], "properties": {
        "id": {"type": "string"},
        "chat": {"type": "string"},
        "text": {"type": "string"},
        "markdown": {"type": "string"},
        "buttons": {"type": "array", "items": button_schema()},
        "request": {"type": ["string", "null"]},
    }});
    let mut notices = json!({"description": "the notices claimed for this consumer (empty when none came in time)", "content": {"application/json": {"schema": {
        "type": "object", "required": ["notices"], "properties": {"notices": {"type": "array", "items": notice}}}}}});
    notices["links"] = json!({"acknowledge": {
        "operationId": "acknowledgeNotice",
        "parameters": {"id": "$response.body#/notices/0/id"},
    }});
    let mut poll = operation(
        "Long poll for notices to deliver: claims them for consumer for claim_seconds; unacknowledged ones come back",
        None,
        json!({
            "200": notices,
            "400": error("invalid_query: consumer missing, or wait_seconds not 0 to 60"),
            "403": forbidden(),
            "404": not_configured(),
            "429": error("too_many_polls: 4 polls of this consumer, or 128 in all, are already waiting"),
        }),
    );
    poll["parameters"] = json!([
        {"name": "consumer", "in": "query", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"}},
        {"name": "wait_seconds", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "maximum": 60}},
    ]);
    add("/v1/relay/notices", "get", poll);
    let mut acknowledge = operation(
        "A notice delivered (or undeliverable): it leaves the outbox, audited; idempotent",
        Some(required_body(schema_of::<crate::relay::AckBody>())),
        json!({
            "200": ok("{\"id\", \"removed\": bool} (false: it was no longer pending)"),
            "400": bad_body(),
            "403": forbidden(),
            "404": error("not_found: the id names a notice of another platform, or is not a number; or relay_not_configured"),
            "409": error("claimed_by_another: another consumer holds the notice, and this one never had it"),
        }),
    );
    acknowledge["operationId"] = json!("acknowledgeNotice");
    add("/v1/relay/notices/{id}/ack", "post", acknowledge);
    add(
        "/v1/relay/grammar",
        "get",
        operation(
            "What a host should pass on: command and answer patterns, the click prefix, who may run what",
            None,
            json!({"200": ok("the grammar"), "403": forbidden(), "404": not_configured()}),
        ),
    );
}

/// A path parameter, with what the handler accepts.
fn path_parameter(name: &str) -> Value {
    let schema = match name {
        // What POST /v1/runs returned: check_lease.
        "lease" => json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$"}),
        // A source name: check_source.
        "name" => {
            json!({"type": "string", "minLength": 1, "maxLength": 100, "pattern": crate::names::NAME_PATTERN})
        }
        // An id, short id or unique prefix; anything else is simply not found.
        _ => json!({"type": "string"}),
    };
    json!({"name": name, "in": "path", "required": true, "schema": schema})
}
