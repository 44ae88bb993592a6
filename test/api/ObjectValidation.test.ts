import { assert, describe, it } from "@effect/vitest"
import * as Validation from "../../src/api/ObjectValidation.ts"

const pods = { group: "", kind: "Pod", namespaced: true }
const deployments = { group: "apps", kind: "Deployment", namespaced: true }

const pod = (spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "web", namespace: "default", ...metadata },
  spec: { containers: [{ name: "app", image: "app:1" }], ...spec }
})

/** `field: message` of every problem. */
const problems = (kind: Validation.Kind, object: unknown): Array<string> =>
  Validation.validate(kind, object).map(({ field, message }) => `${field}: ${message}`)

const subdomain =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"

describe("Validation", () => {
  it("accepts a valid pod, and names other kinds' objects by their own rules", () => {
    assert.deepStrictEqual(problems(pods, pod()), [])
    assert.deepStrictEqual(
      problems({ group: "", kind: "Service", namespaced: true }, { metadata: { name: "web" } }),
      []
    )
    assert.deepStrictEqual(
      problems(
        { group: "rbac.authorization.k8s.io", kind: "ClusterRole", namespaced: false },
        {
          metadata: { name: "system:controller:Karpenter" }
        }
      ),
      []
    )
  })

  it("names per kind, with apimachinery's messages", () => {
    assert.deepStrictEqual(problems(pods, pod({}, { name: "BadName" })), [
      `metadata.name: Invalid value: "BadName": ${subdomain}`
    ])
    assert.deepStrictEqual(problems(pods, pod({}, { name: "a".repeat(254) })), [
      `metadata.name: Invalid value: "${"a".repeat(254)}": must be no more than 253 characters`
    ])
    const namespaces = { group: "", kind: "Namespace", namespaced: false }
    assert.deepStrictEqual(problems(namespaces, { metadata: { name: "team.a" } }), [
      'metadata.name: Invalid value: "team.a": must not contain dots'
    ])
    assert.deepStrictEqual(problems(namespaces, { metadata: { name: "a".repeat(64) } }), [
      `metadata.name: Invalid value: "${"a".repeat(64)}": must be no more than 63 characters`
    ])
    assert.deepStrictEqual(
      problems({ group: "", kind: "Service", namespaced: true }, { metadata: { name: "1-web" } }),
      [
        `metadata.name: Invalid value: "1-web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`
      ]
    )
    const roles = { group: "rbac.authorization.k8s.io", kind: "Role", namespaced: true }
    assert.deepStrictEqual(problems(roles, { metadata: { name: "a/b" } }), [
      "metadata.name: Invalid value: \"a/b\": may not contain '/'"
    ])
    assert.deepStrictEqual(problems({ group: "karpenter.sh", kind: "NodePool", namespaced: false }, { metadata: {} }), [
      "metadata.name: Required value: name or generateName is required"
    ])
  })

  it("a generateName may end with '-', but is otherwise held to the name's rule", () => {
    assert.deepStrictEqual(problems(pods, pod({}, { name: "web-x7k2p", generateName: "web-" })), [])
    assert.deepStrictEqual(problems(pods, pod({}, { name: "bad-x7k2p", generateName: "Bad-" })), [
      `metadata.generateName: Invalid value: "Bad-": ${subdomain}`
    ])
  })

  it("labels, annotations, namespaces and finalizers", () => {
    const found = problems(
      pods,
      pod(
        {},
        {
          namespace: "Team",
          labels: { "bad key": "x", app: "a".repeat(64) },
          annotations: { "a/b/c": "x" },
          finalizers: ["example.com/a/b"]
        }
      )
    )
    assert.strictEqual(found.length, 5)
    assert.match(found[0]!, /^metadata\.namespace: Invalid value: "Team": a lowercase RFC 1123 label must consist/)
    assert.match(found[1]!, /^metadata\.labels: Invalid value: "bad key": name part must consist of alphanumeric/)
    assert.match(found[2]!, /^metadata\.labels: Invalid value: "a{64}": must be no more than 63 characters$/)
    assert.match(found[3]!, /^metadata\.annotations: Invalid value: "a\/b\/c": a qualified name must consist/)
    assert.match(found[4]!, /^metadata\.finalizers: Invalid value: "example\.com\/a\/b": a qualified name/)
    const large = { big: "x".repeat(256 * 1024) }
    assert.deepStrictEqual(problems(pods, pod({}, { annotations: large })), [
      "metadata.annotations: Too long: must have at most 262144 bytes"
    ])
  })

  it("quantities: not negative, requests within limits, standard or extended resource names", () => {
    const resources = (requests: Record<string, unknown>, limits: Record<string, unknown> = {}) =>
      problems(pods, pod({ containers: [{ name: "app", resources: { requests, limits } }] }))
    assert.deepStrictEqual(resources({ cpu: "-1" }), [
      'spec.containers[0].resources.requests[cpu]: Invalid value: "-1": must be greater than or equal to 0'
    ])
    assert.deepStrictEqual(resources({}, { memory: "-1Gi" }), [
      'spec.containers[0].resources.limits[memory]: Invalid value: "-1Gi": must be greater than or equal to 0'
    ])
    assert.deepStrictEqual(resources({ cpu: "-0.5" }), [
      'spec.containers[0].resources.requests[cpu]: Invalid value: "-500m": must be greater than or equal to 0'
    ])
    assert.deepStrictEqual(resources({ cpu: "1500m" }, { cpu: "1" }), [
      'spec.containers[0].resources.requests: Invalid value: "1500m": must be less than or equal to cpu limit of 1'
    ])
    assert.deepStrictEqual(resources({ cpu: "1", memory: 1073741824 }, { cpu: 2 }), [])
    assert.deepStrictEqual(resources({ gpu: "1" }), [
      'spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource type or fully qualified',
      'spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource for containers'
    ])
    assert.deepStrictEqual(resources({ "nvidia.com/gpu": "1" }, { "nvidia.com/gpu": "1" }), [])
    assert.deepStrictEqual(resources({ "nvidia.com/gpu": "1" }), [
      "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources"
    ])
    assert.deepStrictEqual(resources({ "nvidia.com/gpu": "500m" }, { "nvidia.com/gpu": "1" }), [
      'spec.containers[0].resources.requests[nvidia.com/gpu]: Invalid value: "500m": must be an integer',
      'spec.containers[0].resources.requests: Invalid value: "500m": must be equal to nvidia.com/gpu limit of 1'
    ])
  })

  it("containers: at least one, named as DNS labels, once; restart policies where they are allowed", () => {
    assert.deepStrictEqual(problems(pods, pod({ containers: [] })), ["spec.containers: Required value"])
    assert.deepStrictEqual(
      problems(pods, pod({ containers: [{ image: "a" }, { name: "App" }, { name: "app" }, { name: "app" }] })),
      [
        "spec.containers[0].name: Required value",
        `spec.containers[1].name: Invalid value: "App": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
        'spec.containers[3].name: Duplicate value: "app"'
      ]
    )
    assert.deepStrictEqual(
      problems(
        pods,
        pod({
          restartPolicy: "Sometimes",
          containers: [{ name: "app", restartPolicy: "Always" }],
          initContainers: [
            { name: "app" },
            { name: "sidecar", restartPolicy: "Always" },
            { name: "init", restartPolicy: "Never" }
          ]
        })
      ),
      [
        "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers",
        'spec.initContainers[0].name: Duplicate value: "app"',
        'spec.initContainers[2].restartPolicy: Unsupported value: "Never": supported values: "Always"',
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
      ]
    )
    assert.deepStrictEqual(
      problems(
        pods,
        pod({ containers: [{ name: "app", ports: [{ containerPort: 70000, hostPort: 0, protocol: "HTTP" }] }] })
      ),
      [
        "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        'spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'
      ]
    )
  })

  it("scheduling fields: tolerations, node selectors, affinity, spread constraints, volumes", () => {
    assert.deepStrictEqual(
      problems(
        pods,
        pod({
          nodeName: "Node_1",
          nodeSelector: { zone: "a b" },
          tolerations: [
            { key: "a", operator: "In", value: "b" },
            { key: "a", operator: "Exists", value: "b", effect: "Sometimes" },
            { operator: "Equal" },
            { key: "a", effect: "NoSchedule", tolerationSeconds: 5 }
          ],
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  {
                    matchExpressions: [
                      { key: "zone", operator: "Equals", values: ["a"] },
                      { key: "zone", operator: "In" }
                    ]
                  }
                ]
              },
              preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 0, preference: {} }]
            },
            podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: "" }] }
          },
          topologySpreadConstraints: [{ maxSkew: 0, topologyKey: "zone", whenUnsatisfiable: "Never" }],
          volumes: [{ name: "Data" }, { name: "claim", persistentVolumeClaim: { claimName: "" } }]
        })
      ).map((problem) => problem.split(": ").slice(0, 2).join(": ")),
      [
        "spec.nodeName: Invalid value",
        "spec.nodeSelector: Invalid value",
        "spec.tolerations[0].operator: Unsupported value",
        "spec.tolerations[1].operator: Invalid value",
        "spec.tolerations[1].effect: Unsupported value",
        "spec.tolerations[2].operator: Invalid value",
        "spec.tolerations[3].effect: Invalid value",
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: Invalid value",
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].values: Required value",
        "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value",
        "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value",
        "spec.topologySpreadConstraints[0].maxSkew: Invalid value",
        "spec.topologySpreadConstraints[0].whenUnsatisfiable: Unsupported value",
        "spec.volumes[0].name: Invalid value",
        "spec.volumes[1].persistentVolumeClaim.claimName: Required value"
      ]
    )
  })

  it("workloads: replicas, a selector that selects the template, and Always restarting pods", () => {
    const deployment = (spec: Record<string, unknown>, podSpec: Record<string, unknown> = {}) => ({
      metadata: { name: "web", namespace: "default" },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "web" } },
        template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "app" }], ...podSpec } },
        ...spec
      }
    })
    assert.deepStrictEqual(problems(deployments, deployment({})), [])
    assert.deepStrictEqual(problems(deployments, deployment({ replicas: -1 })), [
      "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    ])
    assert.deepStrictEqual(problems(deployments, deployment({ selector: { matchLabels: { app: "api" } } })), [
      'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`'
    ])
    assert.deepStrictEqual(
      problems(
        deployments,
        deployment({ selector: { matchExpressions: [{ key: "app", operator: "In", values: ["web"] }] } })
      ),
      []
    )
    assert.deepStrictEqual(problems(deployments, deployment({ selector: {} })), [
      "spec.selector: Invalid value: {}: empty selector is invalid for deployment"
    ])
    assert.deepStrictEqual(problems(deployments, deployment({}, { restartPolicy: "Never", containers: [] })), [
      "spec.template.spec.containers: Required value",
      'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'
    ])
  })

  it("node taints and disruption budgets", () => {
    assert.deepStrictEqual(
      problems(
        { group: "", kind: "Node", namespaced: false },
        {
          metadata: { name: "n" },
          spec: { taints: [{ key: "a", effect: "Sometimes" }, { key: "b" }] }
        }
      ),
      [
        'spec.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"',
        "spec.taints[1].effect: Required value"
      ]
    )
    assert.deepStrictEqual(
      problems(
        { group: "policy", kind: "PodDisruptionBudget", namespaced: true },
        {
          metadata: { name: "p", namespace: "default" },
          spec: { minAvailable: 1, maxUnavailable: -1 }
        }
      ),
      [
        'spec: Invalid value: {"minAvailable":1,"maxUnavailable":-1}: minAvailable and maxUnavailable cannot be both set',
        "spec.maxUnavailable: Invalid value: -1: must be greater than or equal to 0"
      ]
    )
  })

  it("never throws on objects of the wrong shape (the schema reports those)", () => {
    for (const object of [null, 3, [], { metadata: 1, spec: "x" }, { spec: { containers: [1, null, "a"] } }]) {
      assert.doesNotThrow(() => Validation.validate(pods, object))
      assert.doesNotThrow(() => Validation.validate(deployments, object))
    }
  })
})
