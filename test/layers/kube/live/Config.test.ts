import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as LiveKube from "../../../../layers/kube/live/LiveKubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as Stub from "./Stub.ts"

const answerNode = Stub.serve((_, res) =>
  Stub.reply(res, 200, { apiVersion: "v1", kind: "Node", metadata: { name: "n" }, spec: {} })
)

/** A kubeconfig file with one context per server, in a temporary directory removed with the Scope. */
const kubeconfig = (servers: ReadonlyArray<{ readonly name: string; readonly url: string; readonly token: string }>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "live-kube-"))
      const file = Path.join(dir, "config")
      const yaml = [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        ...servers.flatMap((s) => [
          `- name: ${s.name}`,
          "  cluster:",
          `    server: ${s.url}`,
          "    insecure-skip-tls-verify: true"
        ]),
        "users:",
        ...servers.flatMap((s) => [`- name: ${s.name}`, "  user:", `    token: ${s.token}`]),
        "contexts:",
        ...servers.flatMap((s) => [`- name: ${s.name}`, "  context:", `    cluster: ${s.name}`, `    user: ${s.name}`]),
        `current-context: ${servers[0]?.name ?? ""}`
      ].join("\n")
      Fs.writeFileSync(file, yaml)
      return { dir, file }
    }),
    ({ dir }) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.map(({ file }) => file))

/** Sets an environment variable for the Scope. */
const env = (name: string, value: string | undefined) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const previous = process.env[name]
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
      return previous
    }),
    (previous) =>
      Effect.sync(() => {
        if (previous === undefined) delete process.env[name]
        else process.env[name] = previous
      })
  )

describe("LiveKubeClient configuration", () => {
  it.live("a kubeconfig's current context gives the server and the bearer token", () =>
    Effect.gen(function* () {
      const stub = yield* answerNode
      const file = yield* kubeconfig([{ name: "one", url: stub.url, token: "secret-one" }])
      const kube = yield* LiveKube.make({ kubeconfig: file })
      yield* kube.get(Resources.Nodes, "n")
      assert.strictEqual(stub.requests[0]!.headers.authorization, "Bearer secret-one")
    })
  )

  it.live("a context can be chosen; an unknown one is a one-line ConfigError", () =>
    Effect.gen(function* () {
      const first = yield* answerNode
      const second = yield* answerNode
      const file = yield* kubeconfig([
        { name: "one", url: first.url, token: "t1" },
        { name: "two", url: second.url, token: "t2" }
      ])
      const kube = yield* LiveKube.make({ kubeconfig: file, context: "two" })
      yield* kube.get(Resources.Nodes, "n")
      assert.strictEqual(first.requests.length, 0)
      assert.strictEqual(second.requests[0]!.headers.authorization, "Bearer t2")
      const error = yield* Effect.flip(LiveKube.make({ kubeconfig: file, context: "three" }))
      assert.strictEqual(error._tag, "ConfigError")
      assert.strictEqual(error.message, 'context "three" not found in the kubeconfig')
    })
  )

  it.live("an unreadable kubeconfig is a ConfigError naming the file", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(LiveKube.make({ kubeconfig: "/nonexistent/kubeconfig" }))
      assert.strictEqual(error._tag, "ConfigError")
      assert.include(error.message, "/nonexistent/kubeconfig")
      assert.notInclude(error.message, "\n")
    })
  )

  it.live("without options, $KUBECONFIG is used", () =>
    Effect.gen(function* () {
      const stub = yield* answerNode
      const file = yield* kubeconfig([{ name: "env", url: stub.url, token: "from-env" }])
      yield* env("KUBECONFIG", file)
      const kube = yield* LiveKube.make()
      yield* kube.get(Resources.Nodes, "n")
      assert.strictEqual(stub.requests[0]!.headers.authorization, "Bearer from-env")
    })
  )

  it.live("without a kubeconfig, KUBERNETES_SERVICE_HOST selects the in-cluster service account", () =>
    Effect.gen(function* () {
      yield* env("KUBECONFIG", undefined)
      yield* env("KUBERNETES_SERVICE_HOST", "10.96.0.1")
      yield* env("KUBERNETES_SERVICE_PORT", "443")
      // This machine has no service-account files, so the in-cluster configuration is chosen and found wanting.
      const error = yield* Effect.flip(LiveKube.make())
      assert.strictEqual(error._tag, "ConfigError")
      assert.include(error.message, "/var/run/secrets/kubernetes.io/serviceaccount")
      assert.notInclude(error.message, "\n")
    })
  )

  it.live("with nothing to go on, the error says where a configuration is looked for", () =>
    Effect.gen(function* () {
      const home = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "live-kube-home-"))),
        (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
      )
      yield* env("KUBECONFIG", undefined)
      yield* env("KUBERNETES_SERVICE_HOST", undefined)
      yield* env("HOME", home)
      const error = yield* Effect.flip(LiveKube.make())
      assert.strictEqual(error._tag, "ConfigError")
      assert.include(error.message, "KUBECONFIG")
    })
  )

  it.live("an invalid server URL is a ConfigError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(LiveKube.make({ server: "not a url" }))
      assert.strictEqual(error._tag, "ConfigError")
    })
  )
})
