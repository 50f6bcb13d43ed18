// Conformance of `ipfs-accelerate serve` with the official `openai` SDK (pinned in
// package-lock.json): the SDK's own parsing of every answer, stream and error.
//
//   node openai_conformance.mjs CLI FIXTURES_DIR
//
// Starts the server itself on 127.0.0.1 (a free port), runs the checks in order,
// stops it with SIGTERM (it must exit 0) and exits non-zero on the first failure.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";

const [cli, fixtures] = process.argv.slice(2);
if (!cli || !fixtures) {
  console.error("usage: node openai_conformance.mjs CLI FIXTURES_DIR");
  process.exit(2);
}

const KEY = "sk-conformance";
const home = mkdtempSync(join(tmpdir(), "ia-openai-"));
// A copy of the llama fixture whose chat template renders tools (Hermes style, our own), with a
// longer context (rotary positions) for the tool descriptions.
const toolsModel = join(home, "llama-tools");
cpSync(join(fixtures, "models/llama"), toolsModel, { recursive: true });
const tokConfig = JSON.parse(readFileSync(join(toolsModel, "tokenizer_config.json"), "utf8"));
tokConfig.chat_template =
  "{%- if tools %}<|system|>\nYou may call these functions:\n<tools>{%- for t in tools %}\n{{ t | tojson }}" +
  "{%- endfor %}\n</tools>\nAnswer a call as <tool_call>{\"name\": ..., \"arguments\": ...}</tool_call>" +
  "{%- endif %}{%- for m in messages %}\n<|{{ m['role'] }}|>\n{{ m['content'] }}{%- endfor %}" +
  "{%- if add_generation_prompt %}\n<|assistant|>\n{%- endif %}";
writeFileSync(join(toolsModel, "tokenizer_config.json"), JSON.stringify(tokConfig));
const modelConfig = JSON.parse(readFileSync(join(toolsModel, "config.json"), "utf8"));
modelConfig.max_position_embeddings = 2048;
writeFileSync(join(toolsModel, "config.json"), JSON.stringify(modelConfig));
// A short step delay makes concurrent requests overlap for the 429 check: two run at once
// (--max-num-seqs 2, enough for n=2) and one may wait.
const server = spawn(
  cli,
  ["serve", "-m", join(fixtures, "models/llama"), "-m", join(fixtures, "models/bert"), "-m", toolsModel,
   "-m", join(fixtures, "models/wav2vec2"), "--port", "0",
   "--api-key", KEY, "--max-num-seqs", "2", "--max-queue", "1", "--max-request-bytes", String(1 << 20)],
  { env: { ...process.env, IPFS_ACCELERATE_HOME: home, IA_SERVE_TEST_TOKEN_DELAY_MS: "5" },
    stdio: ["ignore", "ignore", "pipe"] });
let log = "";
const baseURL = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("server not ready in 60 s:\n" + log)), 60000);
  server.stderr.on("data", (d) => {
    log += d;
    const m = /ready on (http:\/\/[0-9.]+:[0-9]+)/.exec(log);
    if (m) { clearTimeout(timer); resolve(m[1] + "/v1"); }
  });
  server.on("exit", (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
});

const client = new OpenAI({ apiKey: KEY, baseURL, maxRetries: 0, timeout: 60000 });
let passed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    console.error(`FAILED - ${name}: ${e.stack || e}\n--- server log ---\n${log}`);
    server.kill("SIGKILL");
    process.exit(1);
  }
}
// The SDK's error for a request: its class, status, code and param.
async function rejects(promise, ErrorClass, status, code, param) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof ErrorClass, `expected ${ErrorClass.name}, got ${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, status);
    if (code !== undefined) assert.equal(e.code, code);
    if (param !== undefined) assert.equal(e.param, param);
    assert.equal(typeof e.error?.message, "string");
    return e;
  }
  assert.fail("the request succeeded");
}

const chat = (extra = {}) => ({
  model: "llama", messages: [{ role: "user", content: "Hello!" }], max_tokens: 8, temperature: 0, ...extra });

await check("models.list", async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ["llama", "bert", "llama-tools", "wav2vec2"]);
});

let whole;
await check("chat.completions.create", async () => {
  const r = await client.chat.completions.create(chat());
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, "assistant");
  assert.equal(typeof r.choices[0].message.content, "string");
  assert.ok(["stop", "length"].includes(r.choices[0].finish_reason));
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  whole = r.choices[0].message.content;
});

await check("chat.completions.create stream with include_usage", async () => {
  const stream = await client.chat.completions.create(chat({ stream: true, stream_options: { include_usage: true } }));
  let text = "", usage = null, finish = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, "chat.completion.chunk");
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta?.content ?? "";
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(text, whole);
  assert.ok(finish);
  assert.ok(usage && usage.completion_tokens > 0);
});

await check("chat.completions n=2 and logprobs", async () => {
  const r = await client.chat.completions.create(chat({ n: 2, logprobs: true, top_logprobs: 2 }));
  assert.equal(r.choices.length, 2);
  const content = r.choices[0].logprobs.content;
  assert.ok(content.length > 0);
  assert.equal(content[0].top_logprobs.length, 2);
  assert.ok(content[0].logprob <= 0);
});

await check("chat.completions sampling fields", async () => {
  const r = await client.chat.completions.create(chat({
    temperature: 0.8, top_p: 0.9, seed: 3, presence_penalty: 0.2, frequency_penalty: 0.2, stop: ["\n\n"],
    logit_bias: { "5": -100 }, max_completion_tokens: 6 }));
  assert.equal(r.choices.length, 1);
});

await check("completions.create and stream", async () => {
  const r = await client.completions.create({ model: "llama", prompt: "Once upon", max_tokens: 6, temperature: 0,
                                              echo: true });
  assert.equal(r.object, "text_completion");
  assert.ok(r.choices[0].text.startsWith("Once upon"));
  const s = await client.completions.create({ model: "llama", prompt: ["a", "b"], max_tokens: 4, temperature: 0,
                                              stream: true });
  const seen = new Set();
  for await (const chunk of s) for (const c of chunk.choices) seen.add(c.index);
  assert.deepEqual([...seen].sort(), [0, 1]);
  const lp = await client.completions.create({ model: "llama", prompt: [1, 2, 3], max_tokens: 3, logprobs: 1 });
  assert.equal(lp.choices[0].logprobs.tokens.length, 3);
});

await check("embeddings float and base64", async () => {
  const f = await client.embeddings.create({ model: "bert", input: ["hello world", "bye"], encoding_format: "float" });
  assert.equal(f.data.length, 2);
  assert.equal(f.data[0].embedding.length, 32);
  // Without encoding_format the SDK asks for base64 and decodes it into floats itself.
  const b = await client.embeddings.create({ model: "bert", input: ["hello world", "bye"] });
  for (let i = 0; i < 32; i++) assert.ok(Math.abs(b.data[0].embedding[i] - f.data[0].embedding[i]) < 1e-6);
  assert.ok(f.usage.prompt_tokens > 0);
});

await check("401 without or with a wrong key", async () => {
  const anonymous = new OpenAI({ apiKey: "sk-wrong", baseURL, maxRetries: 0 });
  await rejects(anonymous.models.list(), OpenAI.AuthenticationError, 401, "invalid_api_key");
});

await check("400 invalid field, empty messages, unknown role, negative max_tokens", async () => {
  await rejects(client.chat.completions.create(chat({ temperature: 7 })), OpenAI.BadRequestError, 400,
                "invalid_value", "temperature");
  await rejects(client.chat.completions.create({ model: "llama", messages: [] }), OpenAI.BadRequestError, 400,
                "invalid_value", "messages");
  await rejects(client.chat.completions.create({ model: "llama", messages: [{ role: "wizard", content: "x" }] }),
                OpenAI.BadRequestError, 400, "invalid_value", "messages[0].role");
  await rejects(client.chat.completions.create(chat({ max_tokens: -1 })), OpenAI.BadRequestError, 400,
                "invalid_value", "max_tokens");
});

await check("400 context_length_exceeded", async () => {
  await rejects(client.chat.completions.create(chat({ max_tokens: 100000 })), OpenAI.BadRequestError, 400,
                "context_length_exceeded");
});

await check("response_format json_schema: the content parses and validates", async () => {
  const schema = { type: "object", additionalProperties: false, required: ["answer", "count"],
                   properties: { answer: { type: "string", enum: ["yes", "no"] }, count: { type: "integer" } } };
  const r = await client.chat.completions.create(chat({
    max_tokens: 120, response_format: { type: "json_schema", json_schema: { name: "verdict", schema, strict: true } } }));
  assert.equal(r.choices[0].finish_reason, "stop");
  const out = JSON.parse(r.choices[0].message.content);
  assert.deepEqual(Object.keys(out), ["answer", "count"]);
  assert.ok(["yes", "no"].includes(out.answer));
  assert.ok(Number.isInteger(out.count));
  await rejects(client.chat.completions.create(chat({ response_format: { type: "json_schema",
    json_schema: { name: "x", schema: { type: "string", pattern: "^a" } } } })),
                OpenAI.BadRequestError, 400, "invalid_value", "response_format.json_schema.schema");
});

const tools = [{ type: "function", function: { name: "get_weather", description: "Weather in a city",
  parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 }, unit: { enum: ["c", "f"] } },
                required: ["city", "unit"], additionalProperties: false } } }];

await check("tools: a forced call comes back as tool_calls, whole and streamed", async () => {
  const r = await client.chat.completions.create({ model: "llama-tools", max_tokens: 120, temperature: 0,
    messages: [{ role: "user", content: "Weather in Paris?" }], tools,
    tool_choice: { type: "function", function: { name: "get_weather" } } });
  assert.equal(r.choices[0].finish_reason, "tool_calls");
  const call = r.choices[0].message.tool_calls[0];
  assert.equal(call.type, "function");
  assert.equal(call.function.name, "get_weather");
  const args = JSON.parse(call.function.arguments);
  assert.ok(["c", "f"].includes(args.unit));
  // The answer goes back as a tool message, as clients do.
  const next = await client.chat.completions.create({ model: "llama-tools", max_tokens: 4, temperature: 0, tools,
    messages: [{ role: "user", content: "Weather in Paris?" }, r.choices[0].message,
               { role: "tool", tool_call_id: call.id, content: "18 C" }] });
  assert.ok(next.choices[0].message.content !== undefined);
  const stream = await client.chat.completions.create({ model: "llama-tools", max_tokens: 120, temperature: 0,
    messages: [{ role: "user", content: "Weather?" }], tools, tool_choice: "required", stream: true });
  let name = "", argText = "", finish = null;
  for await (const chunk of stream) {
    for (const d of chunk.choices[0]?.delta?.tool_calls ?? []) {
      name += d.function?.name ?? "";
      argText += d.function?.arguments ?? "";
    }
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(name, "get_weather");
  assert.equal(finish, "tool_calls");
  assert.ok(JSON.parse(argText).city !== undefined);
  await rejects(client.chat.completions.create(chat({ tools })), OpenAI.BadRequestError, 400, "invalid_value",
                "tools");
});

await check("audio.transcriptions.create: the upload transcribed (json, text, verbose_json)", async () => {
  const ref = JSON.parse(readFileSync(join(fixtures, "models/wav2vec2/reference.json"), "utf8"));
  const wav = join(fixtures, "models/wav2vec2/audio.wav");
  const r = await client.audio.transcriptions.create({ file: createReadStream(wav), model: "wav2vec2" });
  assert.equal(r.text, ref.ctc_text);
  const text = await client.audio.transcriptions.create({ file: createReadStream(wav), model: "wav2vec2",
                                                           response_format: "text" });
  assert.equal(text.trim(), ref.ctc_text);
  const verbose = await client.audio.transcriptions.create({ file: createReadStream(wav), model: "wav2vec2",
                                                              response_format: "verbose_json" });
  assert.equal(verbose.text, ref.ctc_text);
  assert.ok(Math.abs(verbose.duration - 1.0) < 1e-6);
  await rejects(client.audio.translations.create({ file: createReadStream(wav), model: "wav2vec2" }),
                OpenAI.BadRequestError, 400);
});

await check("404 unknown model and route", async () => {
  await rejects(client.chat.completions.create(chat({ model: "gpt-4o" })), OpenAI.NotFoundError, 404,
                "model_not_found", "model");
  await rejects(client.get("/no/such/route"), OpenAI.NotFoundError, 404, "not_found");
});

await check("413 body too large", async () => {
  await rejects(client.embeddings.create({ model: "bert", input: "x".repeat(2 << 20) }), OpenAI.APIError, 413,
                "request_too_large");
});

await check("429 queue full with Retry-After", async () => {
  const requests = Array.from({ length: 6 }, () =>
    client.chat.completions.create(chat({ max_tokens: 40, ignore_eos: true })).then(() => null, (e) => e));
  const errors = (await Promise.all(requests)).filter(Boolean);
  assert.ok(errors.length >= 1, "no request was refused");
  for (const e of errors) {
    assert.ok(e instanceof OpenAI.RateLimitError, `${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 429);
    assert.equal(e.headers.get("retry-after"), "1");
  }
  assert.ok(errors.length < 6, "every request was refused");
});

server.kill("SIGTERM");
const code = await new Promise((resolve) => server.on("exit", resolve));
rmSync(home, { recursive: true, force: true });
assert.equal(code, 0, `server exited with ${code} after SIGTERM`);
console.log(`openai conformance: ${passed} checks passed`);
