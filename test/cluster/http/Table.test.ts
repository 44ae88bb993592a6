/**
 * Server-side printing as kube-apiserver does it (pkg/printers/internalversion/printers.go): the columns, their
 * priorities and every cell of one object of each built-in kind the façade serves, five minutes after the cluster
 * started on the TestClock; and the authorization reviews kubectl's `auth can-i` sends.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import type * as HttpApi from "../../../src/cluster/http/HttpApi.ts"
import { request, withServer } from "./support.ts"

const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
const start = Date.parse("2026-01-01T00:00:00Z")
const at = (minutes: number) => `${new Date(start + minutes * 60_000).toISOString().slice(0, 19)}Z`

interface Case {
  /** The collection to POST to and to read the Table from. */
  readonly path: string
  readonly body: unknown
  /** A merge patch for the status subresource, when the kind's status is not the writer's. */
  readonly status?: unknown
  /** `[name, priority]` of every column. */
  readonly columns: ReadonlyArray<readonly [string, number]>
  readonly cells: ReadonlyArray<unknown>
}

const metadata = (name: string, extra?: object) => ({ metadata: { name, ...extra } })
const template = (labels: Record<string, string>, containers: ReadonlyArray<readonly [string, string]>) => ({
  metadata: { labels },
  spec: { containers: containers.map(([name, image]) => ({ name, image })) }
})
const age = ["Age", 0] as const

/** One object of each built-in kind, and the row kube-apiserver prints for it. */
const cases: Readonly<Record<string, Case>> = {
  events: {
    path: "/api/v1/namespaces/default/events",
    body: {
      ...metadata("web-1.1"),
      involvedObject: { kind: "Pod", name: "web-1", namespace: "default", fieldPath: "spec.containers{app}" },
      type: "Normal",
      reason: "Nominated",
      message: " Pod should schedule on: nodeclaim/default-x\n",
      source: { component: "karpenter", host: "h" },
      count: 3,
      firstTimestamp: at(0),
      lastTimestamp: at(2)
    },
    columns: [
      ["Last Seen", 0],
      ["Type", 0],
      ["Reason", 0],
      ["Object", 0],
      ["Subobject", 1],
      ["Source", 1],
      ["Message", 0],
      ["First Seen", 1],
      ["Count", 1],
      ["Name", 1]
    ],
    cells: [
      "3m",
      "Normal",
      "Nominated",
      "pod/web-1",
      "spec.containers{app}",
      "karpenter, h",
      "Pod should schedule on: nodeclaim/default-x",
      "5m",
      3,
      "web-1.1"
    ]
  },
  replicasets: {
    path: "/apis/apps/v1/namespaces/default/replicasets",
    body: {
      ...metadata("web-1"),
      spec: {
        replicas: 3,
        selector: {
          matchLabels: { app: "web" },
          matchExpressions: [{ key: "tier", operator: "In", values: ["b", "a"] }]
        },
        template: template({ app: "web", tier: "a" }, [
          ["app", "app:1"],
          ["side", "side:2"]
        ])
      }
    },
    status: { status: { replicas: 2, readyReplicas: 1 } },
    columns: [
      ["Name", 0],
      ["Desired", 0],
      ["Current", 0],
      ["Ready", 0],
      age,
      ["Containers", 1],
      ["Images", 1],
      ["Selector", 1]
    ],
    cells: ["web-1", 3, 2, 1, "5m", "app,side", "app:1,side:2", "app=web,tier in (a,b)"]
  },
  deployments: {
    path: "/apis/apps/v1/namespaces/default/deployments",
    body: {
      ...metadata("web"),
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: "web" } },
        template: template({ app: "web" }, [["app", "app:1"]])
      }
    },
    status: { status: { replicas: 3, readyReplicas: 1, updatedReplicas: 2, availableReplicas: 1 } },
    columns: [
      ["Name", 0],
      ["Ready", 0],
      ["Up-to-date", 0],
      ["Available", 0],
      age,
      ["Containers", 1],
      ["Images", 1],
      ["Selector", 1]
    ],
    cells: ["web", "1/3", 2, 1, "5m", "app", "app:1", "app=web"]
  },
  daemonsets: {
    path: "/apis/apps/v1/namespaces/default/daemonsets",
    body: {
      ...metadata("logs"),
      spec: {
        selector: { matchLabels: { app: "logs" } },
        template: {
          metadata: { labels: { app: "logs" } },
          spec: { nodeSelector: { "kubernetes.io/os": "linux" }, containers: [{ name: "agent", image: "agent:1" }] }
        }
      }
    },
    status: { status: { desiredNumberScheduled: 2, currentNumberScheduled: 2, numberReady: 1 } },
    columns: [
      ["Name", 0],
      ["Desired", 0],
      ["Current", 0],
      ["Ready", 0],
      ["Up-to-date", 0],
      ["Available", 0],
      ["Node Selector", 0],
      age,
      ["Containers", 1],
      ["Images", 1],
      ["Selector", 1]
    ],
    cells: ["logs", 2, 2, 1, 0, 0, "kubernetes.io/os=linux", "5m", "agent", "agent:1", "app=logs"]
  },
  pods: {
    path: "/api/v1/namespaces/default/pods",
    body: { ...metadata("p"), spec: { nodeName: "n", containers: [{ name: "app", image: "app:1" }] } },
    columns: [
      ["Name", 0],
      ["Ready", 0],
      ["Status", 0],
      ["Restarts", 0],
      age,
      ["IP", 1],
      ["Node", 1],
      ["Nominated Node", 1],
      ["Readiness Gates", 1]
    ],
    cells: ["p", "0/1", "Pending", "0", "5m", "<none>", "n", "<none>", "<none>"]
  },
  nodes: {
    path: "/api/v1/nodes",
    body: { ...metadata("n", { labels: { "kubernetes.io/role": "worker" } }), spec: { unschedulable: true } },
    columns: [
      ["Name", 0],
      ["Status", 0],
      ["Roles", 0],
      age,
      ["Version", 0],
      ["Internal-IP", 1],
      ["External-IP", 1],
      ["OS-Image", 1],
      ["Kernel-Version", 1],
      ["Container-Runtime", 1]
    ],
    cells: [
      "n",
      "Unknown,SchedulingDisabled",
      "worker",
      "5m",
      "",
      "<none>",
      "<none>",
      "<unknown>",
      "<unknown>",
      "<unknown>"
    ]
  },
  namespaces: {
    path: "/api/v1/namespaces",
    body: metadata("team"),
    columns: [["Name", 0], ["Status", 0], age],
    cells: ["team", "Active", "5m"]
  },
  poddisruptionbudgets: {
    path: "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
    body: { ...metadata("web"), spec: { minAvailable: "50%", selector: { matchLabels: { app: "web" } } } },
    status: { status: { disruptionsAllowed: 1, currentHealthy: 2, desiredHealthy: 1, expectedPods: 2 } },
    columns: [["Name", 0], ["Min Available", 0], ["Max Unavailable", 0], ["Allowed Disruptions", 0], age],
    cells: ["web", "50%", "N/A", 1, "5m"]
  },
  persistentvolumeclaims: {
    path: "/api/v1/namespaces/default/persistentvolumeclaims",
    body: {
      ...metadata("data"),
      spec: {
        storageClassName: "standard",
        volumeName: "pv-1",
        accessModes: ["ReadWriteOnce"],
        resources: { requests: { storage: "1Gi" } }
      }
    },
    status: { status: { phase: "Bound" } },
    columns: [
      ["Name", 0],
      ["Status", 0],
      ["Volume", 0],
      ["Capacity", 0],
      ["Access Modes", 0],
      ["StorageClass", 0],
      ["VolumeAttributesClass", 0],
      age,
      ["VolumeMode", 1]
    ],
    cells: ["data", "Bound", "pv-1", "0", "", "standard", "<unset>", "5m", "<unset>"]
  },
  persistentvolumes: {
    path: "/api/v1/persistentvolumes",
    body: {
      ...metadata("pv-1", { annotations: { "volume.beta.kubernetes.io/storage-class": "legacy" } }),
      spec: {
        storageClassName: "standard",
        capacity: { storage: "10Gi" },
        claimRef: { namespace: "default", name: "data" }
      }
    },
    status: { status: { phase: "Bound" } },
    columns: [
      ["Name", 0],
      ["Capacity", 0],
      ["Access Modes", 0],
      ["Reclaim Policy", 0],
      ["Status", 0],
      ["Claim", 0],
      ["StorageClass", 0],
      ["VolumeAttributesClass", 0],
      ["Reason", 0],
      age,
      ["VolumeMode", 1]
    ],
    cells: ["pv-1", "10Gi", "", "", "Bound", "default/data", "legacy", "<unset>", "", "5m", "<unset>"]
  },
  storageclasses: {
    path: "/apis/storage.k8s.io/v1/storageclasses",
    body: {
      ...metadata("standard", { annotations: { "storageclass.kubernetes.io/is-default-class": "true" } }),
      provisioner: "kwok.io/disk",
      volumeBindingMode: "WaitForFirstConsumer"
    },
    columns: [
      ["Name", 0],
      ["Provisioner", 0],
      ["ReclaimPolicy", 0],
      ["VolumeBindingMode", 0],
      ["AllowVolumeExpansion", 0],
      age
    ],
    cells: ["standard (default)", "kwok.io/disk", "Delete", "WaitForFirstConsumer", false, "5m"]
  },
  csinodes: {
    path: "/apis/storage.k8s.io/v1/csinodes",
    body: { ...metadata("n"), spec: { drivers: [{ name: "disk.kwok.io", nodeID: "n" }] } },
    columns: [["Name", 0], ["Drivers", 0], age],
    cells: ["n", 1, "5m"]
  },
  leases: {
    path: "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
    body: { ...metadata("karpenter-leader-election"), spec: { holderIdentity: "karpenter-1" } },
    columns: [["Name", 0], ["Holder", 0], age],
    cells: ["karpenter-leader-election", "karpenter-1", "5m"]
  },
  configmaps: {
    path: "/api/v1/namespaces/default/configmaps",
    body: { ...metadata("settings"), data: { a: "1", b: "2" }, binaryData: { c: "AA==" } },
    columns: [["Name", 0], ["Data", 0], age],
    cells: ["settings", 3, "5m"]
  },
  secrets: {
    path: "/api/v1/namespaces/default/secrets",
    body: { ...metadata("creds"), type: "Opaque", data: { token: "dA==" } },
    columns: [["Name", 0], ["Type", 0], ["Data", 0], age],
    cells: ["creds", "Opaque", 1, "5m"]
  },
  services: {
    path: "/api/v1/namespaces/default/services",
    body: {
      ...metadata("web"),
      spec: {
        type: "ClusterIP",
        clusterIP: "10.0.0.1",
        clusterIPs: ["10.0.0.1"],
        ports: [
          { port: 80, protocol: "TCP" },
          { port: 443, nodePort: 30443, protocol: "TCP" }
        ],
        selector: { app: "web" }
      }
    },
    columns: [["Name", 0], ["Type", 0], ["Cluster-IP", 0], ["External-IP", 0], ["Port(s)", 0], age, ["Selector", 1]],
    cells: ["web", "ClusterIP", "10.0.0.1", "<none>", "80/TCP,443:30443/TCP", "5m", "app=web"]
  },
  serviceaccounts: {
    path: "/api/v1/namespaces/default/serviceaccounts",
    body: { ...metadata("karpenter"), secrets: [{ name: "token" }] },
    columns: [["Name", 0], ["Secrets", 0], age],
    cells: ["karpenter", 1, "5m"]
  },
  clusterroles: {
    path: "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    body: { ...metadata("karpenter"), rules: [] },
    columns: [
      ["Name", 0],
      ["Created At", 0]
    ],
    cells: ["karpenter", at(0)]
  },
  roles: {
    path: "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
    body: { ...metadata("karpenter"), rules: [] },
    columns: [
      ["Name", 0],
      ["Created At", 0]
    ],
    cells: ["karpenter", at(0)]
  },
  clusterrolebindings: {
    path: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    body: {
      ...metadata("karpenter"),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "karpenter" },
      subjects: [
        { kind: "ServiceAccount", name: "karpenter", namespace: "kube-system" },
        { kind: "User", name: "alice" },
        { kind: "Group", name: "devs" },
        { kind: "User", name: "bob" }
      ]
    },
    columns: [["Name", 0], ["Role", 0], age, ["Users", 1], ["Groups", 1], ["ServiceAccounts", 1]],
    cells: ["karpenter", "ClusterRole/karpenter", "5m", "alice, bob", "devs", "kube-system/karpenter"]
  },
  rolebindings: {
    path: "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
    body: {
      ...metadata("karpenter"),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "karpenter" }
    },
    columns: [["Name", 0], ["Role", 0], age, ["Users", 1], ["Groups", 1], ["ServiceAccounts", 1]],
    cells: ["karpenter", "Role/karpenter", "5m", "", "", ""]
  }
}

const table = (served: HttpApi.Served, path: string) =>
  Effect.map(request(served, "GET", path, { accept: tableAccept }), (response) => {
    assert.strictEqual(response.status, 200, JSON.stringify(response.body))
    assert.strictEqual(response.body.kind, "Table")
    return response.body
  })

const columnsOf = (body: any) =>
  body.columnDefinitions.map((column: { name: string; priority: number }) => [column.name, column.priority])

describe("Table", () => {
  it.effect("prints every built-in kind with kube-apiserver's columns and cells", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(start)
      yield* withServer((served) =>
        Effect.gen(function* () {
          for (const [plural, example] of Object.entries(cases)) {
            const created = yield* request(served, "POST", example.path, { body: example.body })
            assert.isBelow(created.status, 300, `${plural}: ${JSON.stringify(created.body)}`)
            if (example.status !== undefined) {
              const name = created.body.metadata.name
              const patched = yield* request(served, "PATCH", `${example.path}/${name}/status`, {
                body: example.status,
                contentType: "application/merge-patch+json"
              })
              assert.strictEqual(patched.status, 200, `${plural}: ${JSON.stringify(patched.body)}`)
            }
          }
          yield* TestClock.adjust("5 minutes")
          for (const [plural, example] of Object.entries(cases)) {
            const name = (example.body as { metadata: { name: string } }).metadata.name
            const body = yield* table(served, `${example.path}/${name}`)
            assert.deepStrictEqual(columnsOf(body), example.columns, plural)
            assert.deepStrictEqual(body.rows[0].cells, example.cells, plural)
          }
        })
      )
    })
  )

  it.effect("events without timestamps fall back to eventTime and count 1; Names keep the name format", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(start)
      yield* withServer((served) =>
        Effect.gen(function* () {
          yield* request(served, "POST", "/api/v1/namespaces/default/events", {
            body: {
              ...metadata("n.1"),
              involvedObject: { kind: "Node" },
              type: "Warning",
              reason: "Unhealthy",
              message: "gone",
              eventTime: `${at(1).slice(0, 19)}.000000Z`,
              reportingComponent: "kubelet",
              reportingInstance: "n"
            }
          })
          yield* TestClock.adjust("5 minutes")
          const body = yield* table(served, "/api/v1/namespaces/default/events")
          assert.deepStrictEqual(body.rows[0].cells, [
            "4m",
            "Warning",
            "Unhealthy",
            "node",
            "",
            "kubelet, n",
            "gone",
            "4m",
            1,
            "n.1"
          ])
          assert.deepStrictEqual(
            body.columnDefinitions
              .filter((column: { format: string }) => column.format === "name")
              .map((column: { name: string }) => column.name),
            ["Name"]
          )
        })
      )
    })
  )

  it.effect("built-in namespaces and CRDs were created when the cluster started, not at the epoch", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(start)
      yield* withServer((served) =>
        Effect.gen(function* () {
          yield* TestClock.adjust("3 minutes")
          const namespaces = yield* table(served, "/api/v1/namespaces")
          assert.deepStrictEqual(
            namespaces.rows.map((row: { cells: ReadonlyArray<unknown> }) => row.cells),
            [
              ["default", "Active", "3m"],
              ["kube-node-lease", "Active", "3m"],
              ["kube-system", "Active", "3m"]
            ]
          )
          const crd = yield* table(
            served,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/nodeclaims.karpenter.sh"
          )
          assert.deepStrictEqual(columnsOf(crd), [
            ["Name", 0],
            ["Created At", 0]
          ])
          assert.deepStrictEqual(crd.rows[0].cells, ["nodeclaims.karpenter.sh", at(0)])
        })
      )
    })
  )
})

describe("authorization reviews", () => {
  it.effect(
    "SelfSubjectAccessReview and SelfSubjectRulesReview allow the caller everything, and discovery lists them",
    () =>
      withServer((served) =>
        Effect.gen(function* () {
          const group = yield* request(served, "GET", "/apis/authorization.k8s.io/v1")
          assert.strictEqual(group.status, 200)
          assert.deepStrictEqual(
            group.body.resources.map((resource: { name: string; namespaced: boolean; verbs: Array<string> }) => [
              resource.name,
              resource.namespaced,
              resource.verbs
            ]),
            [
              ["selfsubjectaccessreviews", false, ["create"]],
              ["selfsubjectrulesreviews", false, ["create"]]
            ]
          )
          const spec = {
            resourceAttributes: { namespace: "default", verb: "create", group: "karpenter.sh", resource: "nodeclaims" }
          }
          const review = yield* request(served, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
            body: { apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview", spec }
          })
          assert.strictEqual(review.status, 201)
          assert.strictEqual(review.body.kind, "SelfSubjectAccessReview")
          assert.deepStrictEqual(review.body.spec, spec)
          assert.isTrue(review.body.status.allowed)
          const empty = yield* request(served, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
            body: { apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview", spec: {} }
          })
          assert.strictEqual(empty.status, 422)
          assert.match(
            empty.body.message,
            /exactly one of nonResourceAttributes or resourceAttributes must be specified/
          )
          const rules = yield* request(served, "POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", {
            body: {
              apiVersion: "authorization.k8s.io/v1",
              kind: "SelfSubjectRulesReview",
              spec: { namespace: "default" }
            }
          })
          assert.strictEqual(rules.status, 201)
          assert.deepStrictEqual(rules.body.status, {
            resourceRules: [{ verbs: ["*"], apiGroups: ["*"], resources: ["*"] }],
            nonResourceRules: [{ verbs: ["*"], nonResourceURLs: ["*"] }],
            incomplete: false
          })
          const get = yield* request(served, "GET", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
          assert.strictEqual(get.status, 405)
        })
      )
  )
})
