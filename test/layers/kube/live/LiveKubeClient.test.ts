import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as LiveKube from "../../../../layers/kube/live/LiveKubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as Stub from "./Stub.ts"

const fast = {
  retryDelay: Duration.millis(5),
  maxRetryDelay: Duration.millis(20),
  requestTimeout: Duration.seconds(5)
} as const

const client = (stub: Stub.Stub, options?: LiveKube.Options) => LiveKube.make({ server: stub.url, ...fast, ...options })

const node = (name: string, resourceVersion = "1") => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name, resourceVersion, uid: `uid-${name}` },
  spec: {}
})

const pod = (name: string, namespace = "default") => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace, resourceVersion: "1" },
  spec: { containers: [{ name: "app", image: "app" }] }
})

describe("LiveKubeClient requests", () => {
  it.live("addresses core and group resources, namespaced and cluster-scoped, and decodes the answer", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((request, res) =>
        Stub.reply(res, 200, request.path.includes("/pods/") ? pod("p", "kube-system") : node("n"))
      )
      const kube = yield* client(stub, { userAgent: "test-agent" })
      const fetched = yield* kube.get(Resources.Nodes, "n")
      assert.strictEqual(fetched.metadata.name, "n")
      yield* kube.get(Resources.Pods, "p", { namespace: "kube-system" })
      yield* Effect.ignore(kube.get(Resources.NodeClaims, "nc"))
      yield* Effect.ignore(kube.get(Resources.Leases, "l"))
      assert.deepStrictEqual(
        stub.requests.map((request) => request.path),
        [
          "/api/v1/nodes/n",
          "/api/v1/namespaces/kube-system/pods/p",
          "/apis/karpenter.sh/v1/nodeclaims/nc",
          "/apis/coordination.k8s.io/v1/namespaces/default/leases/l"
        ]
      )
      assert.strictEqual(stub.requests[0]!.headers["user-agent"], "test-agent")
      assert.strictEqual(stub.requests[0]!.headers.accept, "application/json")
    })
  )

  it.live("an object the schema rejects is a one-line KubeUnavailable, not a defect", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res) => Stub.reply(res, 200, { metadata: { name: 5 } }))
      const kube = yield* client(stub)
      const error = yield* Effect.flip(kube.get(Resources.Nodes, "n"))
      assert.strictEqual(error._tag, "KubeUnavailable")
      assert.notInclude(error.message, "\n")
      assert.strictEqual(stub.requests.length, 1)
    })
  )

  it.live("lists pass selectors, limit and continue, and return the page's version and token", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res) =>
        Stub.reply(res, 200, {
          kind: "PodList",
          metadata: { resourceVersion: "42", continue: "next" },
          // Real servers leave kind and apiVersion off the items of built-in kinds.
          items: [{ metadata: { name: "a", namespace: "default" }, spec: { containers: [] } }]
        })
      )
      const kube = yield* client(stub)
      const page = yield* kube.list(Resources.Pods, {
        namespace: "default",
        labelSelector: "app=web,tier!=db",
        fieldSelector: "spec.nodeName=",
        limit: 1,
        continue: "token"
      })
      assert.strictEqual(page.resourceVersion, "42")
      assert.strictEqual(page.continue, "next")
      assert.deepStrictEqual(
        page.items.map((item) => item.metadata.name),
        ["a"]
      )
      const request = stub.requests[0]!
      assert.strictEqual(request.path, "/api/v1/namespaces/default/pods")
      assert.strictEqual(request.query.get("labelSelector"), "app=web,tier!=db")
      assert.strictEqual(request.query.get("fieldSelector"), "spec.nodeName=")
      assert.strictEqual(request.query.get("limit"), "1")
      assert.strictEqual(request.query.get("continue"), "token")
      yield* kube.list(Resources.Pods)
      assert.strictEqual(stub.requests[1]!.path, "/api/v1/pods")
    })
  )

  it.live("patches are merge patches unless a JSON patch is asked for; status is its own subresource", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res) => Stub.reply(res, 200, node("n")))
      const kube = yield* client(stub)
      yield* kube.patch(Resources.Nodes, "n", { type: "merge", patch: { metadata: { labels: { a: "1" } } } })
      yield* kube.patch(Resources.Nodes, "n", {
        type: "json",
        patch: [{ op: "add", path: "/metadata/labels/b", value: "2" }]
      })
      yield* kube.patch(Resources.Nodes, "n", { type: "merge", patch: { status: {} } }, { subresource: "status" })
      const [merge, json, status] = stub.requests
      assert.strictEqual(merge!.method, "PATCH")
      assert.strictEqual(merge!.headers["content-type"], "application/merge-patch+json")
      assert.deepStrictEqual(merge!.body, { metadata: { labels: { a: "1" } } })
      assert.strictEqual(json!.headers["content-type"], "application/json-patch+json")
      assert.deepStrictEqual(json!.body, [{ op: "add", path: "/metadata/labels/b", value: "2" }])
      assert.strictEqual(status!.path, "/api/v1/nodes/n/status")
      assert.strictEqual(status!.headers["content-type"], "application/merge-patch+json")
    })
  )

  it.live("create POSTs to the collection of the object's namespace; replace PUTs the object", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((request, res) => Stub.reply(res, request.method === "POST" ? 201 : 200, pod("p")))
      const kube = yield* client(stub)
      yield* kube.create(Resources.Pods, pod("p", "team") as never)
      yield* kube.replace(Resources.Pods, pod("p", "team") as never, { subresource: "status" })
      yield* kube.create(Resources.Pods, { ...pod("q"), metadata: { name: "q" } } as never, { namespace: "other" })
      assert.deepStrictEqual(
        stub.requests.map((request) => `${request.method} ${request.path}`),
        [
          "POST /api/v1/namespaces/team/pods",
          "PUT /api/v1/namespaces/team/pods/p/status",
          "POST /api/v1/namespaces/other/pods"
        ]
      )
      assert.deepStrictEqual(stub.requests[0]!.body, pod("p", "team"))
      assert.strictEqual(stub.requests[0]!.headers["content-type"], "application/json")
    })
  )

  it.live("delete sends DeleteOptions: grace period, preconditions, propagation", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res) => Stub.reply(res, 200, { kind: "Status", status: "Success" }))
      const kube = yield* client(stub)
      yield* kube.delete(Resources.NodeClaims, "nc", {
        gracePeriodSeconds: 0,
        preconditions: { uid: "u1", resourceVersion: "7" },
        propagationPolicy: "Foreground"
      })
      const request = stub.requests[0]!
      assert.strictEqual(`${request.method} ${request.path}`, "DELETE /apis/karpenter.sh/v1/nodeclaims/nc")
      assert.deepStrictEqual(request.body, {
        apiVersion: "v1",
        kind: "DeleteOptions",
        gracePeriodSeconds: 0,
        preconditions: { uid: "u1", resourceVersion: "7" },
        propagationPolicy: "Foreground"
      })
    })
  )

  it.live("evictions post a policy/v1 Eviction; bindings a Binding to the node", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res) => Stub.reply(res, 201, { kind: "Status", status: "Success", code: 201 }))
      const kube = yield* client(stub)
      yield* kube.evict("default", "web-1", { gracePeriodSeconds: 5 })
      yield* kube.bind("default", "web-1", "node-a")
      const [eviction, binding] = stub.requests
      assert.strictEqual(eviction!.path, "/api/v1/namespaces/default/pods/web-1/eviction")
      assert.deepStrictEqual(eviction!.body, {
        apiVersion: "policy/v1",
        kind: "Eviction",
        metadata: { name: "web-1", namespace: "default" },
        deleteOptions: { gracePeriodSeconds: 5 }
      })
      assert.strictEqual(binding!.path, "/api/v1/namespaces/default/pods/web-1/binding")
      assert.deepStrictEqual(binding!.body, {
        apiVersion: "v1",
        kind: "Binding",
        metadata: { name: "web-1", namespace: "default" },
        target: { apiVersion: "v1", kind: "Node", name: "node-a" }
      })
    })
  )

  it.live("Lease MicroTimes go on the wire exactly as given, six fractional digits", () =>
    Effect.gen(function* () {
      const lease = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: "karpenter-leader-election", namespace: "kube-system" },
        spec: {
          holderIdentity: "a",
          leaseDurationSeconds: 15,
          acquireTime: "2026-01-02T03:04:05.000000Z",
          renewTime: "2026-01-02T03:04:05.123456Z"
        }
      }
      const stub = yield* Stub.serve((_, res) => Stub.reply(res, 201, lease))
      const kube = yield* client(stub)
      const created = yield* kube.create(Resources.Leases, lease)
      assert.include(stub.requests[0]!.text, '"renewTime":"2026-01-02T03:04:05.123456Z"')
      assert.include(stub.requests[0]!.text, '"acquireTime":"2026-01-02T03:04:05.000000Z"')
      assert.strictEqual(created.spec.renewTime, "2026-01-02T03:04:05.123456Z")
    })
  )
})

describe("LiveKubeClient errors", () => {
  it.live("Status answers map to the typed errors with the server's message", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((request, res) => {
        if (request.method === "GET") return Stub.reply(res, 404, Stub.status(404, "NotFound", 'nodes "n" not found'))
        if (request.method === "POST")
          return Stub.reply(res, 409, Stub.status(409, "AlreadyExists", 'nodes "n" already exists'))
        if (request.method === "PUT")
          return Stub.reply(res, 409, Stub.status(409, "Conflict", "the object has been modified"))
        return Stub.reply(
          res,
          422,
          Stub.status(422, "Invalid", 'Node "n" is invalid: spec.taints[0].effect: Unsupported value', {
            causes: [{ reason: "FieldValueNotSupported", field: "spec.taints[0].effect", message: "Unsupported value" }]
          })
        )
      })
      const kube = yield* client(stub)
      const missing = yield* Effect.flip(kube.get(Resources.Nodes, "n"))
      assert.strictEqual(missing._tag, "NotFound")
      assert.strictEqual(missing.message, 'nodes "n" not found')
      assert.strictEqual(missing.resource, "nodes")
      assert.strictEqual(missing.name, "n")
      assert.strictEqual((yield* Effect.flip(kube.create(Resources.Nodes, node("n") as never)))._tag, "AlreadyExists")
      assert.strictEqual((yield* Effect.flip(kube.replace(Resources.Nodes, node("n") as never)))._tag, "Conflict")
      const invalid = yield* Effect.flip(kube.patch(Resources.Nodes, "n", { type: "merge", patch: {} }))
      assert.strictEqual(invalid._tag, "Invalid")
      assert.deepStrictEqual(invalid._tag === "Invalid" ? invalid.causes : [], [
        { field: "spec.taints[0].effect", message: "Unsupported value" }
      ])
      // Final answers are never retried.
      assert.strictEqual(stub.requests.length, 4)
    })
  )

  it.live("an error an operation does not declare becomes KubeUnavailable with its HTTP code", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res) =>
        Stub.reply(res, 403, Stub.status(403, "Forbidden", "nodes is forbidden"))
      )
      const kube = yield* client(stub)
      const error = yield* Effect.flip(kube.get(Resources.Nodes, "n"))
      assert.strictEqual(error._tag, "KubeUnavailable")
      assert.strictEqual(error._tag === "KubeUnavailable" ? error.code : 0, 403)
      assert.strictEqual(error.message, "nodes is forbidden")
    })
  )

  it.live("a 410 on a list is Expired", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res) =>
        Stub.reply(res, 410, Stub.status(410, "Expired", "the provided continue parameter is too old"))
      )
      const kube = yield* client(stub)
      assert.strictEqual((yield* Effect.flip(kube.list(Resources.Nodes, { continue: "old" })))._tag, "Expired")
    })
  )

  it.live("a PodDisruptionBudget's 429 is TooManyRequests for the caller, never retried", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res) =>
        Stub.reply(
          res,
          429,
          Stub.status(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.", {
            causes: [
              {
                reason: "DisruptionBudget",
                message: "The disruption budget web needs 1 healthy pods and has 1 currently"
              }
            ],
            retryAfterSeconds: 10
          }),
          { "Retry-After": "10" }
        )
      )
      const kube = yield* client(stub)
      const error = yield* Effect.flip(kube.evict("default", "web-1"))
      assert.strictEqual(error._tag, "TooManyRequests")
      assert.strictEqual(error._tag === "TooManyRequests" ? error.retryAfterSeconds : 0, 10)
      assert.strictEqual(error.name, "default/web-1")
      assert.strictEqual(stub.requests.length, 1)
    })
  )

  it.live("throttling 429s are retried after the server's Retry-After, even for creates", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res, index) =>
        index === 0
          ? Stub.reply(res, 429, Stub.status(429, "TooManyRequests", "Too many requests, please try again later."), {
              "Retry-After": "0"
            })
          : Stub.reply(res, 201, node("n"))
      )
      const kube = yield* client(stub)
      yield* kube.create(Resources.Nodes, node("n") as never)
      assert.strictEqual(stub.requests.length, 2)
    })
  )
})

describe("LiveKubeClient retries", () => {
  it.live("5xx answers to reads and idempotent writes are retried until they succeed", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res, index) =>
        index % 3 < 2
          ? Stub.reply(res, 500, Stub.status(500, "InternalError", "etcd hiccup"))
          : Stub.reply(res, 200, node("n"))
      )
      const kube = yield* client(stub)
      yield* kube.get(Resources.Nodes, "n")
      yield* kube.replace(Resources.Nodes, node("n") as never)
      yield* kube.patch(Resources.Nodes, "n", { type: "merge", patch: {} })
      assert.strictEqual(stub.requests.length, 9)
    })
  )

  it.live("a create that may have reached the server is not repeated: no duplicate objects", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res) => Stub.reply(res, 500, Stub.status(500, "InternalError", "etcd hiccup")))
      const kube = yield* client(stub)
      const error = yield* Effect.flip(
        kube.create(Resources.NodeClaims, { metadata: { generateName: "default-" } } as never)
      )
      assert.strictEqual(error._tag, "KubeUnavailable")
      assert.strictEqual(error._tag === "KubeUnavailable" ? error.code : 0, 500)
      assert.strictEqual(stub.requests.length, 1)
    })
  )

  it.live("an unguarded JSON patch is not repeated after a 5xx; one with a test op is", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res, index) =>
        index === 0 || index === 1
          ? Stub.reply(res, 503, Stub.status(503, "ServiceUnavailable", "busy"))
          : Stub.reply(res, 200, node("n"))
      )
      const kube = yield* client(stub)
      const append = yield* Effect.flip(
        kube.patch(Resources.Nodes, "n", {
          type: "json",
          patch: [{ op: "add", path: "/spec/taints/-", value: { key: "a", effect: "NoSchedule" } }]
        })
      )
      assert.strictEqual(append._tag, "KubeUnavailable")
      assert.strictEqual(stub.requests.length, 1)
      yield* kube.patch(Resources.Nodes, "n", {
        type: "json",
        patch: [
          { op: "test", path: "/metadata/resourceVersion", value: "1" },
          { op: "remove", path: "/spec/taints/0" }
        ]
      })
      assert.strictEqual(stub.requests.length, 3)
    })
  )

  it.live("a request that hangs times out and is retried", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res, index) => {
        if (index > 0) Stub.reply(res, 200, node("n"))
      })
      const kube = yield* client(stub, { requestTimeout: Duration.millis(100) })
      const fetched = yield* kube.get(Resources.Nodes, "n")
      assert.strictEqual(fetched.metadata.name, "n")
      assert.isAtLeast(stub.requests.length, 2)
    })
  )

  it.live("retries give up after the configured count with KubeUnavailable", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((_, res) => Stub.reply(res, 502, Stub.status(502, "BadGateway", "proxy down")))
      const kube = yield* client(stub, { retries: 2 })
      const error = yield* Effect.flip(kube.list(Resources.Nodes))
      assert.strictEqual(error._tag, "KubeUnavailable")
      assert.strictEqual(stub.requests.length, 3)
    })
  )

  it.live("a refused connection fails with KubeUnavailable after the retries", () =>
    Effect.gen(function* () {
      const port = yield* Effect.scoped(
        Effect.map(
          Stub.serve(() => {}),
          (stub) => stub.url
        )
      )
      // The stub is closed now: nothing listens on its port.
      const kube = yield* LiveKube.make({ server: port, ...fast, retries: 1 })
      const error = yield* Effect.flip(kube.create(Resources.Nodes, node("n") as never))
      assert.strictEqual(error._tag, "KubeUnavailable")
      assert.include(error.message, "ECONNREFUSED")
    })
  )

  it.live("a binding repeated after an uncertain failure recognises its own success", () =>
    Effect.gen(function* () {
      const stub = yield* Stub.serve((request, res, index) => {
        if (index === 0) return res.socket?.destroy()
        if (request.method === "POST")
          return Stub.reply(res, 409, Stub.status(409, "Conflict", 'pod p is already assigned to node "node-a"'))
        return Stub.reply(res, 200, { ...pod("p"), spec: { ...pod("p").spec, nodeName: "node-a" } })
      })
      const kube = yield* client(stub)
      yield* kube.bind("default", "p", "node-a")
      assert.deepStrictEqual(
        stub.requests.map((request) => request.method),
        ["POST", "POST", "GET"]
      )
    })
  )
})
