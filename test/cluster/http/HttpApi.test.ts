import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as MemoryKube from "../../../layers/kube/memory/MemoryKubeClient.ts"
import * as Faults from "../../../src/cluster/http/Faults.ts"
import * as HttpApi from "../../../src/cluster/http/HttpApi.ts"
import { request, watch, withServer } from "./support.ts"

const nodePool = (name: string, labels?: Record<string, string>) => ({
  apiVersion: "karpenter.sh/v1",
  kind: "NodePool",
  metadata: { name, ...(labels === undefined ? {} : { labels }) },
  spec: {
    template: {
      spec: {
        nodeClassRef: { group: "karpenter.kwok.sh", kind: "KWOKNodeClass", name: "default" },
        requirements: [{ key: "kubernetes.io/os", operator: "In", values: ["linux"] }]
      }
    }
  }
})

const nodeClaim = (name: string) => ({
  apiVersion: "karpenter.sh/v1",
  kind: "NodeClaim",
  metadata: { name, labels: { "node.kubernetes.io/instance-type": "c-4x", "karpenter.sh/nodepool": "default" } },
  spec: {
    nodeClassRef: { group: "karpenter.kwok.sh", kind: "KWOKNodeClass", name: "default" },
    requirements: []
  }
})

const pod = (name: string, options?: { labels?: Record<string, string>; nodeName?: string }) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default", ...(options?.labels === undefined ? {} : { labels: options.labels }) },
  spec: {
    ...(options?.nodeName === undefined ? {} : { nodeName: options.nodeName }),
    containers: [{ name: "app", image: "app:1", ports: [{ containerPort: 80 }] }]
  }
})

const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

describe("HttpApi discovery", () => {
  it.live("serves /version, /api, /apis, group-version resource lists and OpenAPI v3", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const version = yield* request(served, "GET", "/version?timeout=32s")
        assert.strictEqual(version.body.minor, "32")
        const api = yield* request(served, "GET", "/api")
        assert.deepStrictEqual(api.body.versions, ["v1"])
        const apis = yield* request(served, "GET", "/apis")
        const groups = apis.body.groups.map((group: { name: string }) => group.name)
        for (const group of ["karpenter.sh", "karpenter.kwok.sh", "apps", "policy", "coordination.k8s.io"]) {
          assert.include(groups, group)
        }
        const core = yield* request(served, "GET", "/api/v1")
        const byName = (list: any, name: string) => list.resources.find((r: { name: string }) => r.name === name)
        assert.deepStrictEqual(byName(core.body, "pods").shortNames, ["po"])
        assert.deepInclude(byName(core.body, "pods/eviction"), { group: "policy", version: "v1", kind: "Eviction" })
        assert.strictEqual(byName(core.body, "nodes").namespaced, false)
        const karpenter = yield* request(served, "GET", "/apis/karpenter.sh/v1")
        assert.deepStrictEqual(byName(karpenter.body, "nodeclaims").categories, ["karpenter"])
        assert.deepStrictEqual(byName(karpenter.body, "nodeclaims/status").verbs, ["get", "patch", "update"])
        const apps = yield* request(served, "GET", "/apis/apps/v1")
        assert.deepStrictEqual(byName(apps.body, "deployments").shortNames, ["deploy"])
        const storage = yield* request(served, "GET", "/apis/storage.k8s.io/v1")
        assert.deepInclude(byName(storage.body, "volumeattachments"), { kind: "VolumeAttachment", namespaced: false })
        assert.isDefined(byName(storage.body, "volumeattachments/status"))
        const openapi = yield* request(served, "GET", "/openapi/v3")
        const url = openapi.body.paths["apis/karpenter.sh/v1"].serverRelativeURL as string
        const document = yield* request(served, "GET", url)
        const patch = document.body.paths["/apis/karpenter.sh/v1/nodeclaims/{name}"].patch
        assert.deepStrictEqual(patch["x-kubernetes-group-version-kind"], {
          group: "karpenter.sh",
          version: "v1",
          kind: "NodeClaim"
        })
        assert.include(
          patch.parameters.map((parameter: { name: string }) => parameter.name),
          "fieldValidation"
        )
        const missing = yield* request(served, "GET", "/apis/nope/v1/things")
        assert.strictEqual(missing.status, 404)
        assert.strictEqual(missing.headers.get("content-type"), "application/json")
        assert.strictEqual(missing.body.kind, "Status")
        assert.strictEqual(missing.body.reason, "NotFound")
        assert.strictEqual((yield* request(served, "GET", "/openapi/v2")).status, 404)
      })
    )
  )

  it.live("serves the six CRDs, refuses others and deletes", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        const list = yield* request(served, "GET", base)
        assert.deepStrictEqual(list.body.items.map((crd: { metadata: { name: string } }) => crd.metadata.name).sort(), [
          "capacitybuffers.autoscaling.x-k8s.io",
          "ec2nodeclasses.karpenter.k8s.aws",
          "kwoknodeclasses.karpenter.kwok.sh",
          "nodeclaims.karpenter.sh",
          "nodeoverlays.karpenter.sh",
          "nodepools.karpenter.sh"
        ])
        const nodeClaims = yield* request(served, "GET", `${base}/nodeclaims.karpenter.sh`)
        assert.strictEqual(nodeClaims.body.spec.names.kind, "NodeClaim")
        const foreign = yield* request(served, "POST", base, {
          body: { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: "x.y" } }
        })
        assert.strictEqual(foreign.status, 403)
        const again = yield* request(served, "POST", base, { body: nodeClaims.body })
        assert.strictEqual(again.body.reason, "AlreadyExists")
        assert.strictEqual((yield* request(served, "DELETE", `${base}/nodeclaims.karpenter.sh`)).status, 405)
        const labelled = yield* request(served, "PATCH", `${base}/nodeclaims.karpenter.sh`, {
          body: { metadata: { labels: { a: "b" } }, spec: { scope: "Namespaced" } },
          contentType: "application/merge-patch+json"
        })
        assert.strictEqual(labelled.body.metadata.labels.a, "b")
        assert.strictEqual(labelled.body.spec.scope, "Cluster")
      })
    )
  )
  it.live("EC2NodeClasses: discovered, created, refused with upstream's CEL messages, role immutable", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const discovery = yield* request(served, "GET", "/apis/karpenter.k8s.aws/v1")
        const resource = discovery.body.resources.find((r: { name: string }) => r.name === "ec2nodeclasses")
        assert.deepStrictEqual(resource.shortNames, ["ec2nc", "ec2ncs"])
        assert.strictEqual(resource.kind, "EC2NodeClass")
        const base = "/apis/karpenter.k8s.aws/v1/ec2nodeclasses"
        const spec = {
          role: "KarpenterNodeRole",
          amiSelectorTerms: [{ alias: "al2023@latest" }],
          subnetSelectorTerms: [{ tags: { "karpenter.sh/discovery": "demo" } }],
          securityGroupSelectorTerms: [{ tags: { "karpenter.sh/discovery": "demo" } }]
        }
        const object = (name: string, overrides: object = {}) => ({
          apiVersion: "karpenter.k8s.aws/v1",
          kind: "EC2NodeClass",
          metadata: { name },
          spec: { ...spec, ...overrides }
        })
        const created = yield* request(served, "POST", base, { body: object("default") })
        assert.strictEqual(created.status, 201)
        assert.strictEqual(created.body.spec.metadataOptions.httpTokens, "required")
        const invalid = yield* request(served, "POST", base, { body: object("both", { instanceProfile: "profile" }) })
        assert.strictEqual(invalid.status, 422)
        assert.deepStrictEqual(invalid.body.details.causes, [
          {
            field: "spec",
            message: "must specify exactly one of ['role', 'instanceProfile']",
            reason: "FieldValueInvalid"
          }
        ])
        const patch = (body: object) =>
          request(served, "PATCH", `${base}/default`, { body, contentType: "application/merge-patch+json" })
        const renamed = yield* patch({ spec: { role: "OtherRole" } })
        assert.strictEqual(renamed.status, 422)
        assert.match(renamed.body.message, /spec\.role: .*immutable field changed/)
        const switched = yield* patch({ spec: { role: null, instanceProfile: "profile" } })
        assert.strictEqual(switched.status, 422)
        assert.include(switched.body.message, "changing from 'instanceProfile' to 'role' is not supported")
        const tagged = yield* patch({ spec: { tags: { team: "a" } } })
        assert.strictEqual(tagged.status, 200)
        assert.strictEqual(tagged.body.metadata.generation, 2)
      })
    )
  )
})

describe("HttpApi local kinds", () => {
  it.live("ServiceAccounts, Services and RBAC are stored by the façade with plain storage semantics", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const services = "/api/v1/namespaces/default/services"
        const stream = yield* watch(served, `${services}?watch=true`)
        const created = yield* request(served, "POST", services, {
          body: {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: "web" },
            spec: { ports: [{ name: "http", port: 80 }], selector: { app: "web" } }
          }
        })
        assert.strictEqual(created.status, 201)
        assert.strictEqual(created.body.metadata.namespace, "default")
        assert.isString(created.body.metadata.uid)
        assert.strictEqual((yield* stream.next).type, "ADDED")
        const patched = yield* request(served, "PATCH", `${services}/web`, {
          body: { spec: { ports: [{ port: 443, name: "https" }] } },
          contentType: "application/strategic-merge-patch+json"
        })
        assert.deepStrictEqual(
          patched.body.spec.ports.map((port: { port: number }) => port.port),
          [80, 443]
        )
        assert.strictEqual((yield* stream.next).type, "MODIFIED")
        const stale = yield* request(served, "PUT", `${services}/web`, { body: created.body })
        assert.strictEqual(stale.status, 409)
        const duplicate = yield* request(served, "POST", services, { body: created.body })
        assert.strictEqual(duplicate.body.reason, "AlreadyExists")
        assert.strictEqual((yield* request(served, "DELETE", `${services}/web`)).status, 200)
        assert.strictEqual((yield* stream.next).type, "DELETED")
        assert.strictEqual((yield* request(served, "GET", `${services}/web`)).status, 404)

        const roles = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
        const applied = yield* request(served, "PATCH", `${roles}/reader?fieldManager=kubectl`, {
          body: {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRole",
            metadata: { name: "reader", labels: { a: "1" } },
            rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get"] }]
          },
          contentType: "application/apply-patch+yaml"
        })
        assert.strictEqual(applied.status, 201)
        const listed = yield* request(served, "GET", `${roles}?labelSelector=a%3D1`)
        assert.strictEqual(listed.body.kind, "ClusterRoleList")
        assert.deepStrictEqual(
          listed.body.items.map((item: { metadata: { name: string } }) => item.metadata.name),
          ["reader"]
        )
        const accounts = yield* request(served, "GET", "/api/v1/serviceaccounts")
        assert.deepStrictEqual(accounts.body.items, [])
      })
    )
  )
})

describe("HttpApi resources", () => {
  it.live("create, get, list, replace and delete, with Kubernetes error Statuses", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const base = "/apis/karpenter.sh/v1/nodepools"
        const created = yield* request(served, "POST", base, { body: nodePool("a") })
        assert.strictEqual(created.status, 201)
        assert.strictEqual(created.body.apiVersion, "karpenter.sh/v1")
        assert.strictEqual(created.body.kind, "NodePool")
        assert.strictEqual(created.body.metadata.generation, 1)
        const duplicate = yield* request(served, "POST", base, { body: nodePool("a") })
        assert.strictEqual(duplicate.status, 409)
        assert.strictEqual(duplicate.body.reason, "AlreadyExists")
        const missing = yield* request(served, "GET", `${base}/b`)
        assert.strictEqual(missing.status, 404)
        assert.deepStrictEqual(missing.body.details, { name: "b", group: "karpenter.sh", kind: "nodepools" })
        const list = yield* request(served, "GET", base)
        assert.strictEqual(list.body.kind, "NodePoolList")
        assert.strictEqual(list.body.items.length, 1)
        assert.isString(list.body.metadata.resourceVersion)

        const replaced = yield* request(served, "PUT", `${base}/a`, {
          body: { ...created.body, metadata: { ...created.body.metadata, labels: { x: "1" } } }
        })
        assert.strictEqual(replaced.status, 200)
        assert.strictEqual(replaced.body.metadata.labels.x, "1")
        const stale = yield* request(served, "PUT", `${base}/a`, { body: created.body })
        assert.strictEqual(stale.status, 409)
        assert.strictEqual(stale.body.reason, "Conflict")

        const claim = yield* request(served, "POST", "/apis/karpenter.sh/v1/nodeclaims", { body: nodeClaim("c") })
        const immutable = yield* request(served, "PATCH", "/apis/karpenter.sh/v1/nodeclaims/c", {
          body: { spec: { requirements: [{ key: "a", operator: "Exists" }] } },
          contentType: "application/merge-patch+json"
        })
        assert.strictEqual(immutable.status, 422)
        assert.strictEqual(immutable.body.reason, "Invalid")
        assert.isAbove(immutable.body.details.causes.length, 0)
        assert.strictEqual(claim.status, 201)

        const badSelector = yield* request(served, "GET", `${base}?labelSelector=${encodeURIComponent("a in (")}`)
        assert.strictEqual(badSelector.status, 400)

        const noNamespace = yield* request(served, "POST", "/api/v1/namespaces/nope/pods", {
          body: { ...pod("p"), metadata: { name: "p" } }
        })
        assert.strictEqual(noNamespace.status, 404)
        yield* request(served, "POST", "/api/v1/namespaces/default/pods", { body: pod("p") })
        yield* request(served, "POST", "/api/v1/namespaces/kube-system/pods", {
          body: { ...pod("q"), metadata: { name: "q", namespace: "kube-system" } }
        })
        const everywhere = yield* request(served, "GET", "/api/v1/pods")
        assert.deepStrictEqual(
          everywhere.body.items.map((item: { metadata: { name: string } }) => item.metadata.name),
          ["p", "q"]
        )
        const namespaces = yield* request(served, "GET", "/api/v1/namespaces")
        assert.includeMembers(
          namespaces.body.items.map((item: { metadata: { name: string } }) => item.metadata.name),
          ["default", "kube-system", "kube-node-lease"]
        )

        const deleted = yield* request(served, "DELETE", `${base}/a`, { body: { propagationPolicy: "Background" } })
        assert.strictEqual(deleted.status, 200)
        assert.strictEqual((yield* request(served, "GET", `${base}/a`)).status, 404)
        const precondition = yield* request(served, "DELETE", "/api/v1/namespaces/default/pods/p", {
          body: { preconditions: { uid: "other" } }
        })
        assert.strictEqual(precondition.status, 409)
        const collection = yield* request(served, "DELETE", "/api/v1/namespaces/kube-system/pods")
        assert.strictEqual(collection.status, 200)
        assert.strictEqual((yield* request(served, "GET", "/api/v1/pods")).body.items.length, 1)
      })
    )
  )

  it.live("the status subresource, and status ignored on the main resource", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const base = "/apis/karpenter.sh/v1/nodeclaims"
        yield* request(served, "POST", base, { body: nodeClaim("c") })
        const status = yield* request(served, "PATCH", `${base}/c/status`, {
          body: { status: { nodeName: "node-a", providerID: "kwok://node-a" } },
          contentType: "application/merge-patch+json"
        })
        assert.strictEqual(status.status, 200)
        assert.strictEqual(status.body.status.nodeName, "node-a")
        const main = yield* request(served, "PATCH", `${base}/c`, {
          body: { metadata: { labels: { a: "b" } }, status: { nodeName: "other" } },
          contentType: "application/merge-patch+json"
        })
        assert.strictEqual(main.body.status.nodeName, "node-a")
        assert.strictEqual(main.body.metadata.labels.a, "b")
        const read = yield* request(served, "GET", `${base}/c/status`)
        assert.strictEqual(read.body.status.providerID, "kwok://node-a")
        const put = yield* request(served, "PUT", `${base}/c/status`, {
          body: { ...read.body, status: { ...read.body.status, imageID: "image-1" } }
        })
        assert.strictEqual(put.body.status.imageID, "image-1")
      })
    )
  )

  it.live("merge, JSON, strategic merge and apply patches; 415 for strategic merge on custom resources", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const path = "/api/v1/namespaces/default/pods/p"
        yield* request(served, "POST", "/api/v1/namespaces/default/pods", { body: pod("p", { labels: { a: "1" } }) })
        const merged = yield* request(served, "PATCH", path, {
          body: { metadata: { labels: { b: "2" } } },
          contentType: "application/merge-patch+json"
        })
        assert.deepStrictEqual(merged.body.metadata.labels, { a: "1", b: "2" })
        const json = yield* request(served, "PATCH", path, {
          body: [{ op: "remove", path: "/metadata/labels/a" }],
          contentType: "application/json-patch+json"
        })
        assert.deepStrictEqual(json.body.metadata.labels, { b: "2" })
        const failedTest = yield* request(served, "PATCH", path, {
          body: [{ op: "test", path: "/metadata/labels/b", value: "3" }],
          contentType: "application/json-patch+json"
        })
        assert.strictEqual(failedTest.status, 422)

        const strategic = yield* request(served, "PATCH", path, {
          body: {
            metadata: { finalizers: ["x/y"] },
            spec: {
              containers: [
                { name: "app", ports: [{ containerPort: 443 }] },
                { name: "side", image: "side:1" }
              ]
            }
          },
          contentType: "application/strategic-merge-patch+json"
        })
        assert.strictEqual(strategic.status, 200)
        assert.deepStrictEqual(strategic.body.spec.containers, [
          { name: "app", image: "app:1", ports: [{ containerPort: 80 }, { containerPort: 443 }] },
          { name: "side", image: "side:1" }
        ])
        assert.deepStrictEqual(strategic.body.metadata.finalizers, ["x/y"])
        const staleStrategic = yield* request(served, "PATCH", path, {
          body: { metadata: { resourceVersion: "1", labels: { c: "3" } } },
          contentType: "application/strategic-merge-patch+json"
        })
        assert.strictEqual(staleStrategic.status, 409)

        yield* request(served, "POST", "/apis/karpenter.sh/v1/nodepools", { body: nodePool("np") })
        const customStrategic = yield* request(served, "PATCH", "/apis/karpenter.sh/v1/nodepools/np", {
          body: { metadata: { labels: { a: "b" } } },
          contentType: "application/strategic-merge-patch+json"
        })
        assert.strictEqual(customStrategic.status, 415)
        const unknown = yield* request(served, "PATCH", path, { body: {}, contentType: "text/plain" })
        assert.strictEqual(unknown.status, 415)

        const applyPath = "/apis/karpenter.sh/v1/nodepools/applied?fieldManager=kubectl&force=false"
        const applyType = "application/apply-patch+yaml"
        const created = yield* request(served, "PATCH", applyPath, {
          body: nodePool("applied", { a: "1" }),
          contentType: applyType
        })
        assert.strictEqual(created.status, 201)
        const updated = yield* request(served, "PATCH", applyPath, {
          body: `apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata:\n  name: applied\n  labels:\n    b: "2"\nspec:\n  weight: 10\n`,
          contentType: applyType
        })
        assert.strictEqual(updated.status, 200)
        assert.deepStrictEqual(updated.body.metadata.labels, { a: "1", b: "2" })
        assert.strictEqual(updated.body.spec.weight, 10)
        assert.strictEqual(updated.body.spec.template.spec.nodeClassRef.name, "default")
        const noManager = yield* request(served, "PATCH", "/apis/karpenter.sh/v1/nodepools/applied", {
          body: nodePool("applied"),
          contentType: applyType
        })
        assert.strictEqual(noManager.status, 422)
      })
    )
  )

  it.live("dryRun=All answers with the result of the write and stores nothing", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const base = "/apis/karpenter.sh/v1/nodepools"
        const created = yield* request(served, "POST", `${base}?dryRun=All`, { body: nodePool("dry") })
        assert.strictEqual(created.status, 201)
        assert.strictEqual((yield* request(served, "GET", `${base}/dry`)).status, 404)
        const invalid = yield* request(served, "POST", `${base}?dryRun=All`, {
          body: { ...nodePool("bad"), spec: { template: "nope" } }
        })
        assert.strictEqual(invalid.status, 422)
        yield* request(served, "POST", base, { body: nodePool("a", { x: "1" }) })
        const patched = yield* request(served, "PATCH", `${base}/a?dryRun=All`, {
          body: { metadata: { labels: { x: "2" } } },
          contentType: "application/merge-patch+json"
        })
        assert.strictEqual(patched.body.metadata.labels.x, "2")
        const deleted = yield* request(served, "DELETE", `${base}/a?dryRun=All`)
        assert.strictEqual(deleted.status, 200)
        const stored = yield* request(served, "GET", `${base}/a`)
        assert.strictEqual(stored.body.metadata.labels.x, "1")
      })
    )
  )

  it.live("eviction (201, or 429 with a DisruptionBudget cause), binding, and the scale subresource", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const pods = "/api/v1/namespaces/default/pods"
        yield* request(served, "POST", pods, { body: pod("free") })
        yield* request(served, "POST", pods, { body: pod("guarded", { labels: { app: "db" } }) })
        const bound = yield* request(served, "POST", `${pods}/guarded/binding`, {
          body: {
            apiVersion: "v1",
            kind: "Binding",
            metadata: { name: "guarded" },
            target: { kind: "Node", name: "n" }
          }
        })
        assert.strictEqual(bound.status, 201)
        const twice = yield* request(served, "POST", "/api/v1/namespaces/default/bindings", {
          body: {
            apiVersion: "v1",
            kind: "Binding",
            metadata: { name: "guarded" },
            target: { kind: "Node", name: "m" }
          }
        })
        assert.strictEqual(twice.status, 409)
        const running = yield* request(served, "GET", `${pods}/guarded`)
        yield* request(served, "PUT", `${pods}/guarded/status`, {
          body: {
            ...running.body,
            status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] }
          }
        })
        const pdbs = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
        const pdb = yield* request(served, "POST", pdbs, {
          body: {
            apiVersion: "policy/v1",
            kind: "PodDisruptionBudget",
            metadata: { name: "db" },
            spec: { minAvailable: 1, selector: { matchLabels: { app: "db" } } }
          }
        })
        yield* request(served, "PUT", `${pdbs}/db/status`, {
          body: {
            ...pdb.body,
            status: {
              observedGeneration: 1,
              disruptionsAllowed: 0,
              currentHealthy: 1,
              desiredHealthy: 1,
              expectedPods: 1
            }
          }
        })
        const eviction = (name: string) => ({
          kind: "Eviction",
          apiVersion: "policy/v1",
          metadata: { name, namespace: "default" },
          deleteOptions: {}
        })
        const refused = yield* request(served, "POST", `${pods}/guarded/eviction`, { body: eviction("guarded") })
        assert.strictEqual(refused.status, 429)
        assert.strictEqual(refused.body.reason, "TooManyRequests")
        assert.strictEqual(refused.body.details.causes[0].reason, "DisruptionBudget")
        const evicted = yield* request(served, "POST", `${pods}/free/eviction`, { body: eviction("free") })
        assert.strictEqual(evicted.status, 201)
        assert.strictEqual(evicted.body.status, "Success")
        assert.strictEqual((yield* request(served, "GET", `${pods}/free`)).status, 404)
        const mismatch = yield* request(served, "POST", `${pods}/guarded/eviction`, { body: eviction("other") })
        assert.strictEqual(mismatch.status, 400)

        yield* request(served, "POST", "/apis/apps/v1/namespaces/default/deployments", {
          body: {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "web" },
            spec: {
              replicas: 2,
              selector: { matchLabels: { app: "web" } },
              template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "web", image: "w" }] } }
            }
          }
        })
        const scale = yield* request(served, "GET", "/apis/apps/v1/namespaces/default/deployments/web/scale")
        assert.strictEqual(scale.body.kind, "Scale")
        assert.strictEqual(scale.body.spec.replicas, 2)
        assert.strictEqual(scale.body.status.selector, "app=web")
        const scaled = yield* request(served, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", {
          body: { spec: { replicas: 4 } },
          contentType: "application/merge-patch+json"
        })
        assert.strictEqual(scaled.body.spec.replicas, 4)

        // `kubectl scale nodepool`: the CRD's scale subresource, spec.replicas and status.nodes.
        const pool = nodePool("fixed")
        yield* request(served, "POST", "/apis/karpenter.sh/v1/nodepools", {
          body: { ...pool, spec: { ...pool.spec, replicas: 2 } }
        })
        yield* request(served, "PATCH", "/apis/karpenter.sh/v1/nodepools/fixed/status", {
          body: { status: { nodes: 2 } },
          contentType: "application/merge-patch+json"
        })
        const poolScale = yield* request(served, "GET", "/apis/karpenter.sh/v1/nodepools/fixed/scale")
        assert.deepStrictEqual([poolScale.body.spec.replicas, poolScale.body.status.replicas], [2, 2])
        const poolScaled = yield* request(served, "PATCH", "/apis/karpenter.sh/v1/nodepools/fixed/scale", {
          body: { spec: { replicas: 5 } },
          contentType: "application/merge-patch+json"
        })
        assert.strictEqual(poolScaled.body.spec.replicas, 5)
        assert.strictEqual(
          (yield* request(served, "GET", "/apis/karpenter.sh/v1/nodepools/fixed")).body.spec.replicas,
          5
        )
      })
    )
  )

  it.live("Tables with upstream's columns for nodeclaims, nodes and pods", () =>
    withServer((served) =>
      Effect.gen(function* () {
        yield* request(served, "POST", "/apis/karpenter.sh/v1/nodeclaims", { body: nodeClaim("c") })
        yield* request(served, "PATCH", "/apis/karpenter.sh/v1/nodeclaims/c/status", {
          body: {
            status: {
              nodeName: "n",
              conditions: [
                {
                  type: "Ready",
                  status: "True",
                  reason: "Ready",
                  message: "",
                  lastTransitionTime: "2026-01-01T00:00:00Z"
                }
              ]
            }
          },
          contentType: "application/merge-patch+json"
        })
        const table = yield* request(served, "GET", "/apis/karpenter.sh/v1/nodeclaims?limit=500", {
          accept: tableAccept
        })
        assert.strictEqual(table.body.kind, "Table")
        assert.deepStrictEqual(
          table.body.columnDefinitions.map((column: { name: string; priority: number }) => [
            column.name,
            column.priority
          ]),
          [
            ["Name", 0],
            ["Type", 0],
            ["Capacity", 0],
            ["Zone", 0],
            ["Node", 0],
            ["Ready", 0],
            ["Age", 0],
            ["ImageID", 1],
            ["ID", 1],
            ["NodePool", 1],
            ["NodeClass", 1],
            ["Drifted", 1]
          ]
        )
        const cells = table.body.rows[0].cells
        assert.deepStrictEqual(
          [cells[0], cells[1], cells[2], cells[4], cells[5], cells[9], cells[10]],
          ["c", "c-4x", null, "n", "True", "default", "default"]
        )
        assert.strictEqual(table.body.rows[0].object.metadata.name, "c")

        yield* request(served, "POST", "/api/v1/nodes", {
          body: { apiVersion: "v1", kind: "Node", metadata: { name: "n" }, spec: { unschedulable: true } }
        })
        const nodes = yield* request(served, "GET", "/api/v1/nodes", { accept: tableAccept })
        assert.deepStrictEqual(
          nodes.body.columnDefinitions
            .filter((column: { priority: number }) => column.priority === 0)
            .map((column: { name: string }) => column.name),
          ["Name", "Status", "Roles", "Age", "Version"]
        )
        assert.strictEqual(nodes.body.rows[0].cells[1], "Unknown,SchedulingDisabled")
        yield* request(served, "POST", "/api/v1/namespaces/default/pods", { body: pod("p", { nodeName: "n" }) })
        const pods = yield* request(served, "GET", "/api/v1/pods", { accept: tableAccept })
        assert.deepStrictEqual(pods.body.columnDefinitions.map((column: { name: string }) => column.name).slice(0, 7), [
          "Name",
          "Ready",
          "Status",
          "Restarts",
          "Age",
          "IP",
          "Node"
        ])
        assert.deepStrictEqual(pods.body.rows[0].cells.slice(0, 4), ["p", "0/1", "Pending", "0"])
        assert.strictEqual(pods.body.rows[0].cells[6], "n")
        const stored = yield* request(served, "GET", "/api/v1/namespaces/default/pods/p")
        yield* request(served, "PUT", "/api/v1/namespaces/default/pods/p/status", {
          body: { ...stored.body, status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] } }
        })
        const running = yield* request(served, "GET", "/api/v1/namespaces/default/pods/p", { accept: tableAccept })
        assert.deepStrictEqual(running.body.rows[0].cells.slice(0, 3), ["p", "1/1", "Running"])
        const single = yield* request(served, "GET", "/api/v1/nodes/n", { accept: tableAccept })
        assert.strictEqual(single.body.rows.length, 1)
      })
    )
  )
})

describe("HttpApi validation", () => {
  it.live(
    "kube-apiserver's object validation: 422 Invalid naming each field, for stored kinds and dry runs alike",
    () =>
      withServer((served) =>
        Effect.gen(function* () {
          const pods = "/api/v1/namespaces/default/pods"
          const bad = pod("BadName")
          const refused = yield* request(served, "POST", pods, {
            body: { ...bad, spec: { containers: [{ name: "app", resources: { requests: { cpu: "-1" } } }] } }
          })
          assert.strictEqual(refused.status, 422)
          assert.strictEqual(refused.body.reason, "Invalid")
          assert.match(
            refused.body.message,
            /^Pod "BadName" is invalid: metadata\.name: Invalid value: "BadName": a lowercase RFC 1123 subdomain/
          )
          assert.deepStrictEqual(
            refused.body.details.causes.map((cause: { field: string }) => cause.field),
            ["metadata.name", "spec.containers[0].resources.requests[cpu]"]
          )
          assert.strictEqual(
            refused.body.details.causes[1].message,
            'Invalid value: "-1": must be greater than or equal to 0'
          )
          const dryRun = yield* request(served, "POST", `${pods}?dryRun=All`, {
            body: { ...pod("p"), spec: { containers: [] } }
          })
          assert.strictEqual(dryRun.status, 422)
          assert.strictEqual(dryRun.body.details.causes[0].message, "Required value")
          const long = yield* request(served, "POST", "/apis/karpenter.sh/v1/nodepools", {
            body: nodePool("a".repeat(300))
          })
          assert.strictEqual(long.status, 422)
          assert.strictEqual(long.body.details.causes[0].message.endsWith("must be no more than 253 characters"), true)

          const configMaps = "/api/v1/namespaces/default/configmaps"
          const configMap = yield* request(served, "POST", configMaps, {
            body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "Bad_Name" }, data: { a: "b" } }
          })
          assert.strictEqual(configMap.status, 422)
          assert.match(configMap.body.message, /^ConfigMap "Bad_Name" is invalid: metadata\.name: Invalid value/)
          assert.strictEqual((yield* request(served, "GET", `${configMaps}/Bad_Name`)).status, 404)
        })
      )
  )

  it.live(
    "fieldValidation: Strict refuses unknown fields, Warn (the default) drops them with a warning, Ignore drops them",
    () =>
      withServer((served) =>
        Effect.gen(function* () {
          const pods = "/api/v1/namespaces/default/pods"
          const withFoo = (name: string) => ({
            ...pod(name),
            spec: { ...pod(name).spec, foo: 1, securityContext: { runAsUser: 1 } }
          })
          const strict = yield* request(served, "POST", `${pods}?fieldValidation=Strict`, { body: withFoo("a") })
          assert.strictEqual(strict.status, 400)
          assert.strictEqual(strict.body.reason, "BadRequest")
          assert.strictEqual(
            strict.body.message,
            'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.foo"'
          )
          const warned = yield* request(served, "POST", pods, { body: withFoo("b") })
          assert.strictEqual(warned.status, 201)
          assert.strictEqual(warned.headers.get("warning"), '299 - "unknown field \\"spec.foo\\""')
          const ignored = yield* request(served, "POST", `${pods}?fieldValidation=Ignore`, { body: withFoo("c") })
          assert.strictEqual(ignored.status, 201)
          assert.isNull(ignored.headers.get("warning"))
          const bogus = yield* request(served, "POST", `${pods}?fieldValidation=Sometimes`, { body: withFoo("d") })
          assert.strictEqual(bogus.status, 422)

          const patched = yield* request(served, "PATCH", `${pods}/b?fieldValidation=Strict`, {
            body: { metadata: { labels: { a: "b" } }, spec: { containers: [{ name: "app", cpu: "1" }] } },
            contentType: "application/strategic-merge-patch+json"
          })
          assert.strictEqual(patched.status, 422)
          assert.deepStrictEqual(
            patched.body.details.causes.map((cause: { field: string }) => cause.field),
            ["patch"]
          )
          assert.include(patched.body.message, 'strict decoding error: unknown field "spec.containers[0].cpu"')
          const jsonPatched = yield* request(served, "PATCH", `${pods}/b?fieldValidation=Strict`, {
            body: [
              { op: "add", path: "/metadata/labels", value: { a: "b" } },
              { op: "add", path: "/spec/bar", value: 1 }
            ],
            contentType: "application/json-patch+json"
          })
          assert.strictEqual(jsonPatched.status, 422)
          assert.include(jsonPatched.body.message, 'unknown field "spec.bar"')

          const nodePools = "/apis/karpenter.sh/v1/nodepools"
          const custom = yield* request(served, "POST", `${nodePools}?fieldValidation=Strict`, {
            body: { ...nodePool("default"), spec: { ...nodePool("default").spec, foo: 1 } }
          })
          assert.strictEqual(custom.status, 400)
          assert.include(custom.body.message, 'NodePool in version "v1" cannot be handled as a NodePool')

          const configMaps = "/api/v1/namespaces/default/configmaps"
          const configMap = {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "settings" },
            data: { a: "b" },
            date: {}
          }
          const strictLocal = yield* request(served, "POST", `${configMaps}?fieldValidation=Strict`, {
            body: configMap
          })
          assert.strictEqual(strictLocal.status, 400)
          assert.include(strictLocal.body.message, 'unknown field "date"')
          const warnedLocal = yield* request(served, "POST", configMaps, { body: configMap })
          assert.strictEqual(warnedLocal.status, 201)
          assert.strictEqual(warnedLocal.headers.get("warning"), '299 - "unknown field \\"date\\""')
          assert.deepStrictEqual(Object.keys((yield* request(served, "GET", `${configMaps}/settings`)).body).sort(), [
            "apiVersion",
            "data",
            "kind",
            "metadata"
          ])
        })
      )
  )

  it.live(
    "request shape: a PUT naming another object, and an unparseable resourceVersion, are 400 for every kind",
    () =>
      withServer((served) =>
        Effect.gen(function* () {
          const pods = "/api/v1/namespaces/default/pods"
          const created = yield* request(served, "POST", pods, { body: pod("a") })
          const renamed = yield* request(served, "PUT", `${pods}/a`, {
            body: { ...created.body, metadata: { ...created.body.metadata, name: "b" } }
          })
          assert.strictEqual(renamed.status, 400)
          assert.strictEqual(renamed.body.message, "the name of the object (b) does not match the name on the URL (a)")
          const moved = yield* request(served, "PUT", `${pods}/a`, {
            body: { ...created.body, metadata: { ...created.body.metadata, namespace: "kube-system" } }
          })
          assert.strictEqual(moved.status, 400)
          const services = "/api/v1/namespaces/default/services"
          const service = yield* request(served, "POST", services, {
            body: { apiVersion: "v1", kind: "Service", metadata: { name: "web" }, spec: { ports: [{ port: 80 }] } }
          })
          const renamedLocal = yield* request(served, "PUT", `${services}/web`, {
            body: { ...service.body, metadata: { ...service.body.metadata, name: "api" } }
          })
          assert.strictEqual(renamedLocal.status, 400)

          for (const path of [
            `${pods}?resourceVersion=abc`,
            `${pods}?watch=true&resourceVersion=abc`,
            `${pods}/a?resourceVersion=-1`,
            `${services}?watch=1&resourceVersion=x`,
            `/apis/apiextensions.k8s.io/v1/customresourcedefinitions?resourceVersion=18446744073709551616`
          ]) {
            const response = yield* request(served, "GET", path)
            assert.strictEqual(response.status, 400, path)
            assert.match(
              response.body.message,
              /^resourceVersion: Invalid value: ".*": strconv\.ParseUint: parsing/,
              path
            )
          }
          assert.strictEqual((yield* request(served, "GET", `${pods}?resourceVersion=0`)).status, 200)
        })
      )
  )
})

describe("HttpApi watch", () => {
  it.live("from a list's resourceVersion: exactly the later ADDED, MODIFIED and DELETED, then a timeout ends it", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const base = "/apis/karpenter.sh/v1/nodepools"
        yield* request(served, "POST", base, { body: nodePool("before") })
        const list = yield* request(served, "GET", base)
        const stream = yield* watch(served, `${base}?watch=true&resourceVersion=${list.body.metadata.resourceVersion}`)
        assert.strictEqual(stream.status, 200)
        const created = yield* request(served, "POST", base, { body: nodePool("a") })
        const added = yield* stream.next
        assert.strictEqual(added.type, "ADDED")
        assert.strictEqual(added.object.metadata.name, "a")
        assert.strictEqual(added.object.kind, "NodePool")
        yield* request(served, "PATCH", `${base}/a`, {
          body: { metadata: { labels: { x: "1" } } },
          contentType: "application/merge-patch+json"
        })
        const modified = yield* stream.next
        assert.strictEqual(modified.type, "MODIFIED")
        assert.strictEqual(modified.object.metadata.labels.x, "1")
        yield* request(served, "DELETE", `${base}/a`)
        const deleted = yield* stream.next
        assert.strictEqual(deleted.type, "DELETED")
        assert.isAbove(
          Number(deleted.object.metadata.resourceVersion),
          Number(modified.object.metadata.resourceVersion)
        )
        assert.isAbove(Number(modified.object.metadata.resourceVersion), Number(created.body.metadata.resourceVersion))

        const replay = yield* watch(served, `${base}?watch=1&allowWatchBookmarks=true&timeoutSeconds=1`)
        const initial = yield* replay.next
        assert.strictEqual(initial.type, "ADDED")
        assert.strictEqual(initial.object.metadata.name, "before")
        const bookmark = yield* replay.next
        assert.strictEqual(bookmark.type, "BOOKMARK")
        assert.strictEqual(bookmark.object.kind, "NodePool")
        assert.isString(bookmark.object.metadata.resourceVersion)
        assert.strictEqual(yield* replay.closed, "ended")
      })
    )
  )

  it.live("selectors apply to watches; Table watches send one-row Tables", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const pods = "/api/v1/namespaces/default/pods"
        const selected = yield* watch(served, `${pods}?watch=true&labelSelector=app%3Dweb`)
        const table = yield* Effect.promise(() =>
          fetch(`${served.url}/api/v1/pods?watch=true`, { headers: { Accept: tableAccept } })
        )
        const reader = table.body!.getReader()
        yield* request(served, "POST", pods, { body: pod("other", { labels: { app: "db" } }) })
        yield* request(served, "POST", pods, { body: pod("web", { labels: { app: "web" } }) })
        const event = yield* selected.next
        assert.strictEqual(event.object.metadata.name, "web")
        const chunk = yield* Effect.promise(() => reader.read())
        const first = JSON.parse(new TextDecoder().decode(chunk.value).split("\n")[0]!)
        assert.strictEqual(first.type, "ADDED")
        assert.strictEqual(first.object.kind, "Table")
        assert.strictEqual(first.object.rows[0].cells[0], "other")
        yield* Effect.promise(() => reader.cancel())
      })
    )
  )

  it.live("a compacted resourceVersion gets an ERROR event with a 410 Status, and the stream ends", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const base = "/apis/karpenter.sh/v1/nodepools"
        const created = yield* request(served, "POST", base, { body: nodePool("a") })
        yield* request(served, "POST", base, { body: nodePool("b") })
        const hooks = yield* MemoryKube.MemoryApiServer
        yield* hooks.compact
        const stream = yield* watch(
          served,
          `${base}?watch=true&resourceVersion=${created.body.metadata.resourceVersion}`
        )
        assert.strictEqual(stream.status, 200)
        const error = yield* stream.next
        assert.strictEqual(error.type, "ERROR")
        assert.strictEqual(error.object.code, 410)
        assert.strictEqual(error.object.reason, "Expired")
        assert.strictEqual(yield* stream.closed, "ended")
      })
    )
  )

  it.live("closing the server's scope ends open watches", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const served = yield* HttpApi.serve({ port: 0 }).pipe(Scope.provide(scope), Effect.provide(MemoryKube.layer()))
      const stream = yield* watch(served, "/api/v1/nodes?watch=true")
      const closed = yield* Effect.forkChild(stream.closed)
      yield* Scope.close(scope, undefined as never)
      assert.include(["ended", "reset"], yield* Fiber.join(closed))
      const refused = yield* Effect.promise(() =>
        fetch(`${served.url}/version`).then(
          () => "answered",
          () => "refused"
        )
      )
      assert.strictEqual(refused, "refused")
    }).pipe(Effect.scoped)
  )
})

describe("HttpApi faults", () => {
  it.live("injected statuses answer the next matching requests, then requests succeed", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const faults = yield* Faults.Faults
        yield* faults.inject({ code: 500, count: 2, path: "/nodes", method: "GET" })
        assert.strictEqual((yield* request(served, "GET", "/api/v1/pods")).status, 200)
        const first = yield* request(served, "GET", "/api/v1/nodes")
        assert.strictEqual(first.status, 500)
        assert.strictEqual(first.body.reason, "InternalError")
        assert.strictEqual((yield* request(served, "GET", "/api/v1/nodes")).status, 500)
        assert.strictEqual((yield* request(served, "GET", "/api/v1/nodes")).status, 200)
        yield* faults.inject({ code: 429 })
        const throttled = yield* request(served, "GET", "/api/v1/nodes")
        assert.strictEqual(throttled.status, 429)
        assert.strictEqual(throttled.headers.get("retry-after"), "1")
        yield* faults.inject({ code: 409, count: 5 })
        yield* faults.clear
        assert.strictEqual((yield* request(served, "GET", "/api/v1/nodes")).status, 200)
      })
    )
  )

  it.live("a hanging request never answers (the client times out), and the server still closes", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const faults = yield* Faults.Faults
        yield* faults.inject({ hang: true })
        const outcome = yield* Effect.promise(() =>
          fetch(`${served.url}/api/v1/nodes`, { signal: AbortSignal.timeout(300) }).then(
            () => "answered",
            (error: Error) => error.name
          )
        )
        assert.strictEqual(outcome, "TimeoutError")
        assert.strictEqual((yield* request(served, "GET", "/api/v1/nodes")).status, 200)
      })
    )
  )

  it.live("dropWatches resets open watch connections; expireWatches sends ERROR 410 and expires older versions", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const faults = yield* Faults.Faults
        const base = "/apis/karpenter.sh/v1/nodepools"
        const created = yield* request(served, "POST", base, { body: nodePool("a") })
        const rv = created.body.metadata.resourceVersion as string
        const dropped = yield* watch(served, `${base}?watch=true&resourceVersion=${rv}`)
        yield* faults.dropWatches
        assert.strictEqual(yield* dropped.closed, "reset")

        const expiring = yield* watch(served, `${base}?watch=true&resourceVersion=${rv}`)
        yield* request(served, "POST", base, { body: nodePool("b") })
        assert.strictEqual((yield* expiring.next).type, "ADDED")
        yield* faults.expireWatches
        const error = yield* expiring.next
        assert.strictEqual(error.type, "ERROR")
        assert.strictEqual(error.object.code, 410)
        assert.strictEqual(yield* expiring.closed, "ended")
        const again = yield* watch(served, `${base}?watch=true&resourceVersion=${rv}`)
        assert.strictEqual((yield* again.next).object.code, 410)
        const list = yield* request(served, "GET", base)
        const fresh = yield* watch(served, `${base}?watch=true&resourceVersion=${list.body.metadata.resourceVersion}`)
        yield* request(served, "POST", base, { body: nodePool("c") })
        assert.strictEqual((yield* fresh.next).object.metadata.name, "c")
      })
    )
  )

  it.live("the fault switch over HTTP, only with faultInjection", () =>
    Effect.gen(function* () {
      yield* withServer(
        (served) =>
          Effect.gen(function* () {
            const injected = yield* request(served, "POST", "/karpenter-effect/faults", {
              body: { code: 503, path: "/nodes", count: 1 }
            })
            assert.strictEqual(injected.status, 200)
            assert.strictEqual((yield* request(served, "GET", "/api/v1/nodes")).status, 503)
            yield* request(served, "POST", "/karpenter-effect/faults", { body: { code: 500, count: 3 } })
            assert.strictEqual((yield* request(served, "DELETE", "/karpenter-effect/faults")).status, 200)
            assert.strictEqual((yield* request(served, "GET", "/api/v1/nodes")).status, 200)
            const invalid = yield* request(served, "POST", "/karpenter-effect/faults", { body: { code: "x" } })
            assert.strictEqual(invalid.status, 400)
            const stream = yield* watch(served, "/api/v1/nodes?watch=true&resourceVersion=1")
            assert.strictEqual((yield* request(served, "POST", "/karpenter-effect/faults/drop-watches")).status, 200)
            assert.strictEqual(yield* stream.closed, "reset")
          }),
        { faultInjection: true }
      )
      yield* withServer((served) =>
        Effect.gen(function* () {
          assert.strictEqual((yield* request(served, "DELETE", "/karpenter-effect/faults")).status, 404)
        })
      )
    })
  )

  it.live("a port in use is an HttpApiError", () =>
    withServer((served) =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(HttpApi.serve({ port: served.port }))
        assert.strictEqual(error._tag, "HttpApiError")
        assert.match(error.message, /EADDRINUSE/)
      })
    )
  )
})
