import { X509Certificate } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import { stringify } from "yaml"
import * as Certificate from "../../../../layers/app/Certificate.ts"
import * as Config from "../../../../layers/kube/live/Config.ts"
import * as Http from "../../../../layers/kube/live/Http.ts"
import * as Kubeconfig from "../../../../layers/kube/live/Kubeconfig.ts"
import * as LiveKube from "../../../../layers/kube/live/LiveKubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as Stub from "./Stub.ts"

const node = { apiVersion: "v1", kind: "Node", metadata: { name: "n" }, spec: {} }

const answerNode = Stub.serve((_, res) => Stub.reply(res, 200, node))

/** An HTTPS stub with a fresh self-signed certificate (for localhost and 127.0.0.1) that asks for client certificates. */
const answerNodeOverTls = Effect.gen(function* () {
  const server = Certificate.selfSigned(yield* Clock.currentTimeMillis)
  const stub = yield* Stub.serve((_, res) => Stub.reply(res, 200, node), {
    ...server,
    requestCert: true,
    rejectUnauthorized: false
  })
  return { ...stub, certificate: server.cert }
})

/** A temporary directory, removed with the Scope. */
const directory = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "live-kube-credentials-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** A kubeconfig of one context (`only`) with this cluster and user, written as `config` in `dir`. */
const kubeconfigIn = (dir: string, cluster: Record<string, unknown>, user: Record<string, unknown>): string => {
  const file = Path.join(dir, "config")
  Fs.writeFileSync(
    file,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "only", cluster }],
      users: [{ name: "only", user }],
      contexts: [{ name: "only", context: { cluster: "only", user: "only" } }],
      "current-context": "only"
    })
  )
  return file
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256

const base64 = (text: string) => Buffer.from(text).toString("base64")

/**
 * An exec plugin: a Node script printing an ExecCredential of `apiVersion` whose token is `$TOKEN_PREFIX-<run>` (runs
 * counted in a file beside it) and what `status` adds; it fails with `$FAIL` on stderr when that is set.
 */
const plugin = (dir: string, apiVersion: string, status: Record<string, unknown> = {}) => {
  const script = Path.join(dir, "plugin.cjs")
  Fs.writeFileSync(
    script,
    [
      'const fs = require("node:fs")',
      `const counter = ${JSON.stringify(Path.join(dir, "runs"))}`,
      'const runs = (fs.existsSync(counter) ? Number(fs.readFileSync(counter, "utf8")) : 0) + 1',
      "fs.writeFileSync(counter, String(runs))",
      'if (process.env.FAIL) { process.stderr.write(process.env.FAIL + "\\n  second line\\n"); process.exit(3) }',
      "const info = JSON.parse(process.env.KUBERNETES_EXEC_INFO)",
      `const status = { token: process.env.TOKEN_PREFIX + "-" + runs + "-" + process.argv[2] + "-" + info.spec.interactive, ...${JSON.stringify(status)} }`,
      `process.stdout.write(JSON.stringify({ apiVersion: ${JSON.stringify(apiVersion)}, kind: "ExecCredential", status }))`
    ].join("\n")
  )
  return {
    exec: (env: Record<string, string>) => ({
      apiVersion,
      command: process.execPath,
      args: [script, "arg"],
      env: Object.entries(env).map(([name, value]) => ({ name, value }))
    }),
    runs: () => Number(Fs.readFileSync(Path.join(dir, "runs"), "utf8"))
  }
}

describe("LiveKubeClient credentials", () => {
  it.live("client certificate and CA files, relative to the kubeconfig; tls-server-name is the name verified", () =>
    Effect.gen(function* () {
      const stub = yield* answerNodeOverTls
      const client = Certificate.selfSigned(yield* Clock.currentTimeMillis)
      const dir = yield* directory
      Fs.mkdirSync(Path.join(dir, "pki"))
      Fs.writeFileSync(Path.join(dir, "pki", "ca.crt"), stub.certificate)
      Fs.writeFileSync(Path.join(dir, "pki", "client.crt"), client.cert)
      Fs.writeFileSync(Path.join(dir, "pki", "client.key"), client.key)
      const user = { "client-certificate": "pki/client.crt", "client-key": "pki/client.key" }
      const kube = yield* LiveKube.make({
        kubeconfig: kubeconfigIn(dir, { server: stub.url, "certificate-authority": "pki/ca.crt" }, user)
      })
      yield* kube.get(Resources.Nodes, "n")
      assert.strictEqual(stub.requests[0]!.clientCertificate, fingerprint(client.cert))
      assert.isUndefined(stub.requests[0]!.headers.authorization)
      // The server's certificate names localhost and 127.0.0.1, not the name the kubeconfig says to expect.
      const elsewhere = yield* LiveKube.make({
        kubeconfig: kubeconfigIn(
          dir,
          { server: stub.url, "certificate-authority": "pki/ca.crt", "tls-server-name": "api.example" },
          user
        ),
        retries: 0
      })
      assert.include((yield* Effect.flip(elsewhere.get(Resources.Nodes, "n"))).message, "api.example")
    })
  )

  it.live("inline certificate-authority-data and client certificate data", () =>
    Effect.gen(function* () {
      const stub = yield* answerNodeOverTls
      const client = Certificate.selfSigned(yield* Clock.currentTimeMillis)
      const file = kubeconfigIn(
        yield* directory,
        { server: stub.url, "certificate-authority-data": base64(stub.certificate) },
        { "client-certificate-data": base64(client.cert), "client-key-data": base64(client.key) }
      )
      const kube = yield* LiveKube.make({ kubeconfig: file })
      yield* kube.get(Resources.Nodes, "n")
      assert.strictEqual(stub.requests[0]!.clientCertificate, fingerprint(client.cert))
    })
  )

  it.live("an untrusted server certificate fails, insecure-skip-tls-verify accepts it", () =>
    Effect.gen(function* () {
      const stub = yield* answerNodeOverTls
      const dir = yield* directory
      const strict = yield* LiveKube.make({ kubeconfig: kubeconfigIn(dir, { server: stub.url }, {}), retries: 0 })
      assert.strictEqual((yield* Effect.flip(strict.get(Resources.Nodes, "n")))._tag, "KubeUnavailable")
      const lax = yield* LiveKube.make({
        kubeconfig: kubeconfigIn(dir, { server: stub.url, "insecure-skip-tls-verify": true }, { token: "t" })
      })
      yield* lax.get(Resources.Nodes, "n")
      assert.strictEqual(stub.requests.at(-1)!.headers.authorization, "Bearer t")
    })
  )

  it.live("username and password are basic auth; as and as-groups impersonate", () =>
    Effect.gen(function* () {
      const stub = yield* answerNode
      const file = kubeconfigIn(
        yield* directory,
        { server: stub.url },
        { username: "admin", password: "pw", as: "jane", "as-groups": ["devs", "ops"] }
      )
      const kube = yield* LiveKube.make({ kubeconfig: file })
      yield* kube.get(Resources.Nodes, "n")
      const headers = stub.requests[0]!.headers
      assert.strictEqual(headers.authorization, `Basic ${base64("admin:pw")}`)
      assert.strictEqual(headers["impersonate-user"], "jane")
      // One header per group (Node joins repeated headers with ", " when it reads them).
      assert.strictEqual(headers["impersonate-group"], "devs, ops")
    })
  )

  it.effect("a token file is read again after a minute, so a rotated token applies", () =>
    Effect.gen(function* () {
      const stub = yield* answerNode
      const dir = yield* directory
      Fs.writeFileSync(Path.join(dir, "token"), "first\n")
      const kube = yield* LiveKube.make({
        kubeconfig: kubeconfigIn(dir, { server: stub.url }, { tokenFile: "token" })
      })
      const authorization = Effect.map(
        kube.get(Resources.Nodes, "n"),
        () => stub.requests.at(-1)!.headers.authorization
      )
      assert.strictEqual(yield* authorization, "Bearer first")
      Fs.writeFileSync(Path.join(dir, "token"), "second\n")
      yield* TestClock.adjust("59 seconds")
      assert.strictEqual(yield* authorization, "Bearer first")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* authorization, "Bearer second")
      // A token file that disappears keeps the last token.
      Fs.rmSync(Path.join(dir, "token"))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* authorization, "Bearer second")
    })
  )

  it.effect("an exec plugin's token is kept until its expirationTimestamp, then the plugin runs again", () =>
    Effect.gen(function* () {
      const stub = yield* answerNode
      const dir = yield* directory
      // The TestClock starts at the epoch: the credential expires ten minutes in.
      const exec = plugin(dir, "client.authentication.k8s.io/v1", { expirationTimestamp: "1970-01-01T00:10:00Z" })
      const kube = yield* LiveKube.make({
        kubeconfig: kubeconfigIn(dir, { server: stub.url }, { exec: exec.exec({ TOKEN_PREFIX: "exec" }) })
      })
      const authorization = Effect.map(
        kube.get(Resources.Nodes, "n"),
        () => stub.requests.at(-1)!.headers.authorization
      )
      assert.strictEqual(yield* authorization, "Bearer exec-1-arg-false")
      yield* Effect.all([authorization, authorization, authorization], { concurrency: "unbounded" })
      yield* TestClock.adjust("9 minutes")
      assert.strictEqual(yield* authorization, "Bearer exec-1-arg-false")
      assert.strictEqual(exec.runs(), 1)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* authorization, "Bearer exec-2-arg-false")
    })
  )

  it.live("an exec plugin (v1beta1) may answer a client certificate instead of a token", () =>
    Effect.gen(function* () {
      const stub = yield* answerNodeOverTls
      const client = Certificate.selfSigned(yield* Clock.currentTimeMillis)
      const dir = yield* directory
      const exec = plugin(dir, "client.authentication.k8s.io/v1beta1", {
        token: "",
        clientCertificateData: client.cert,
        clientKeyData: client.key
      })
      const kube = yield* LiveKube.make({
        kubeconfig: kubeconfigIn(
          dir,
          { server: stub.url, "certificate-authority-data": base64(stub.certificate) },
          { exec: exec.exec({ TOKEN_PREFIX: "unused" }) }
        )
      })
      yield* kube.get(Resources.Nodes, "n")
      assert.strictEqual(stub.requests[0]!.clientCertificate, fingerprint(client.cert))
      assert.isUndefined(stub.requests[0]!.headers.authorization)
    })
  )

  it.live("a failing exec plugin is a one-line ConfigError with its exit code and stderr", () =>
    Effect.gen(function* () {
      const dir = yield* directory
      const exec = plugin(dir, "client.authentication.k8s.io/v1")
      const file = kubeconfigIn(dir, { server: "http://127.0.0.1:1" }, { exec: exec.exec({ FAIL: "no credentials" }) })
      const error = yield* Effect.flip(LiveKube.make({ kubeconfig: file }))
      assert.strictEqual(error._tag, "ConfigError")
      assert.strictEqual(
        error.message,
        `exec plugin "${process.execPath}" failed with exit code 3: no credentials second line`
      )
      const unknown = kubeconfigIn(
        dir,
        { server: "http://127.0.0.1:1" },
        {
          exec: { apiVersion: "client.authentication.k8s.io/v1", command: "no-such-plugin", installHint: "install it" }
        }
      )
      const missing = yield* Effect.flip(LiveKube.make({ kubeconfig: unknown }))
      assert.match(missing.message, /^exec plugin "no-such-plugin" cannot run: .*ENOENT.* \(install it\)$/)
      const alpha = kubeconfigIn(
        dir,
        { server: "http://127.0.0.1:1" },
        { exec: { apiVersion: "client.authentication.k8s.io/v1alpha1", command: "x" } }
      )
      assert.include(
        (yield* Effect.flip(LiveKube.make({ kubeconfig: alpha }))).message,
        'apiVersion "client.authentication.k8s.io/v1alpha1"'
      )
    })
  )

  it.live(
    "the deprecated auth-provider goes through @kubernetes/client-node (an unexpired OIDC id-token)",
    () =>
      Effect.gen(function* () {
        const stub = yield* answerNode
        const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
        const idToken = `${part({ alg: "none" })}.${part({ exp: 4_102_444_800 })}.signature`
        const file = kubeconfigIn(
          yield* directory,
          { server: stub.url },
          {
            "auth-provider": {
              name: "oidc",
              config: { "id-token": idToken, "client-id": "karpenter", "idp-issuer-url": "https://issuer.example" }
            }
          }
        )
        const kube = yield* LiveKube.make({ kubeconfig: file })
        yield* kube.get(Resources.Nodes, "n")
        assert.strictEqual(stub.requests[0]!.headers.authorization, `Bearer ${idToken}`)
      }),
    // Importing client-node (its whole generated API) alone can take seconds on a loaded machine.
    30_000
  )

  it.live("KUBECONFIG's files merge as kubectl merges them: the first file wins per name and for current-context", () =>
    Effect.gen(function* () {
      const first = yield* answerNode
      const second = yield* answerNode
      const dir = yield* directory
      const write = (name: string, document: Record<string, unknown>) => {
        const file = Path.join(dir, name)
        Fs.writeFileSync(file, stringify(document))
        return file
      }
      const a = write("a", {
        clusters: [{ name: "shared", cluster: { server: first.url } }],
        users: [{ name: "shared", user: { token: "from-a" } }],
        contexts: [{ name: "shared", context: { cluster: "shared", user: "shared" } }],
        "current-context": "shared"
      })
      const b = write("b", {
        clusters: [
          { name: "shared", cluster: { server: second.url } },
          { name: "own", cluster: { server: second.url } }
        ],
        users: [{ name: "shared", user: { token: "from-b" } }],
        contexts: [
          { name: "shared", context: { cluster: "own", user: "shared" } },
          { name: "own", context: { cluster: "own", user: "shared" } }
        ],
        "current-context": "own"
      })
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          const previous = process.env.KUBECONFIG
          process.env.KUBECONFIG = [a, Path.join(dir, "missing"), b].join(Path.delimiter)
          return previous
        }),
        (previous) =>
          Effect.sync(() => {
            if (previous === undefined) delete process.env.KUBECONFIG
            else process.env.KUBECONFIG = previous
          })
      )
      const current = yield* LiveKube.make()
      yield* current.get(Resources.Nodes, "n")
      assert.strictEqual(first.requests[0]!.headers.authorization, "Bearer from-a")
      const own = yield* LiveKube.make({ context: "own" })
      yield* own.get(Resources.Nodes, "n")
      assert.strictEqual(second.requests[0]!.headers.authorization, "Bearer from-a")
    })
  )

  it.live("a broken kubeconfig is a one-line ConfigError naming the file and what is wrong", () =>
    Effect.gen(function* () {
      const dir = yield* directory
      const write = (text: string) => {
        const file = Path.join(dir, "config")
        Fs.writeFileSync(file, text)
        return file
      }
      const message = (text: string) =>
        Effect.map(Effect.flip(LiveKube.make({ kubeconfig: write(text) })), (error) => error.message)
      const file = Path.join(dir, "config")
      assert.match(
        yield* message("clusters: [\n  - name: x\n"),
        new RegExp(`^kubeconfig ${file}: not valid YAML: [^\\n]+$`)
      )
      assert.strictEqual(
        yield* message("clusters:\n- name: x\n  cluster: {}\n"),
        `kubeconfig ${file}: cluster "x" has no server`
      )
      assert.strictEqual(yield* message("users: {}\n"), `kubeconfig ${file}: users is not a list`)
      assert.strictEqual(
        yield* message(
          "clusters:\n- name: x\n  cluster: {server: 'http://a'}\ncontexts:\n- name: c\n  context: {cluster: y}\ncurrent-context: c\n"
        ),
        'context "c" names a cluster the kubeconfig does not have'
      )
      assert.strictEqual(
        yield* message(
          "clusters:\n- name: x\n  cluster: {server: 'https://a', certificate-authority: ca.pem}\ncontexts:\n- name: c\n  context: {cluster: x}\ncurrent-context: c\n"
        ).pipe(Effect.map((text) => text.replace(/: ENOENT.*/, ""))),
        `cannot read the certificate authority ${Path.join(dir, "ca.pem")}`
      )
    })
  )

  it.live("in a pod: the service account's token (re-read), ca.crt and namespace", () =>
    Effect.gen(function* () {
      const stub = yield* answerNodeOverTls
      const dir = yield* directory
      Fs.writeFileSync(Path.join(dir, "token"), "pod-token")
      Fs.writeFileSync(Path.join(dir, "ca.crt"), stub.certificate)
      Fs.writeFileSync(Path.join(dir, "namespace"), "karpenter\n")
      const port = new URL(stub.url).port
      const config = yield* Kubeconfig.inCluster("localhost", port, dir)
      const selected = yield* Kubeconfig.select(config)
      assert.strictEqual(selected.namespace, "karpenter")
      assert.strictEqual(selected.cluster.server, `https://localhost:${port}`)
      const connection = yield* Config.connect(selected)
      const answer = yield* Http.send(
        { connection, userAgent: "test" },
        { resource: "nodes", name: "n" },
        { method: "GET", path: "/api/v1/nodes/n" },
        Duration.seconds(10)
      )
      assert.strictEqual(answer.status, 200)
      assert.strictEqual(stub.requests[0]!.headers.authorization, "Bearer pod-token")
      const ipv6 = yield* Kubeconfig.select(yield* Kubeconfig.inCluster("fd00::1", "443", dir))
      assert.strictEqual(ipv6.cluster.server, "https://[fd00::1]:443")
      const missing = yield* Effect.flip(Kubeconfig.inCluster("localhost", port, Path.join(dir, "absent")))
      assert.include(missing.message, Path.join(dir, "absent", "token"))
    })
  )
})
