/**
 * kube-apiserver's validation, as a user meets it: invalid objects sent with the real kubectl to a `dev` cluster are
 * each refused with 422 (Invalid) or 400 (BadRequest, unknown fields under kubectl's default fieldValidation=Strict)
 * naming the field, and the same objects given to `schedule` end it with exit code 2 and one line naming the field.
 */
import { execFile } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { bin, kubectlFor, kubectlMissing, startDev, temporaryDirectory } from "./support.ts"

if (kubectlMissing !== undefined) console.log(`skipping the validation end-to-end test: ${kubectlMissing}`)

type Json = Record<string, unknown>

const container = (extra: Json = {}): Json => ({
  name: "app",
  image: "app:1",
  resources: { requests: { cpu: "100m", memory: "64Mi" } },
  ...extra
})
const pod = (name: string, spec: Json = {}, metadata: Json = {}): Json => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default", ...metadata },
  spec: { containers: [container()], ...spec }
})
const deployment = (name: string, spec: Json = {}, podSpec: Json = {}): Json => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name, namespace: "default" },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [container()], ...podSpec } },
    ...spec
  }
})
const nodePool = (name: string, spec: Json = {}): Json => ({
  apiVersion: "karpenter.sh/v1",
  kind: "NodePool",
  metadata: { name },
  spec: {
    template: {
      spec: {
        nodeClassRef: { group: "karpenter.kwok.sh", kind: "KWOKNodeClass", name: "default" },
        requirements: [{ key: "kubernetes.io/os", operator: "In", values: ["linux"] }]
      }
    },
    ...spec
  }
})
const ec2NodeClass = (name: string, spec: Json = {}): Json => ({
  apiVersion: "karpenter.k8s.aws/v1",
  kind: "EC2NodeClass",
  metadata: { name },
  spec: {
    role: "KarpenterNodeRole",
    amiSelectorTerms: [{ alias: "al2023@latest" }],
    subnetSelectorTerms: [{ tags: { "karpenter.sh/discovery": "demo" } }],
    securityGroupSelectorTerms: [{ tags: { "karpenter.sh/discovery": "demo" } }],
    ...spec
  }
})
const named = (apiVersion: string, kind: string, name: string, rest: Json = {}): Json => ({
  apiVersion,
  kind,
  metadata: { name, ...(kind === "Namespace" ? {} : { namespace: "default" }) },
  ...rest
})

const subdomain = "a lowercase RFC 1123 subdomain"
const long = (length: number) => "a".repeat(length)

/** One invalid object: the field the refusal must name, and whether kube-apiserver answers 400 rather than 422. */
interface Case {
  readonly object: Json
  readonly field: string
  readonly message?: string
  readonly badRequest?: boolean
}

const cases: ReadonlyArray<Case> = [
  // Object names per kind.
  { object: pod("BadName"), field: "metadata.name", message: subdomain },
  { object: pod("bad_name"), field: "metadata.name", message: subdomain },
  { object: pod(long(254)), field: "metadata.name", message: "must be no more than 253 characters" },
  { object: named("v1", "ConfigMap", "Bad_Name", { data: { a: "b" } }), field: "metadata.name", message: subdomain },
  { object: named("v1", "Secret", "-secret", { stringData: { a: "b" } }), field: "metadata.name" },
  { object: named("v1", "Namespace", "team.a"), field: "metadata.name", message: "must not contain dots" },
  { object: named("v1", "Namespace", long(64)), field: "metadata.name", message: "must be no more than 63" },
  { object: named("v1", "Service", "1-web", { spec: { ports: [{ port: 80 }] } }), field: "metadata.name" },
  { object: deployment("Web"), field: "metadata.name", message: subdomain },
  { object: nodePool(long(300)), field: "metadata.name", message: "must be no more than 253 characters" },
  { object: nodePool("Default"), field: "metadata.name", message: subdomain },
  { object: named("v1", "Node", "node_1"), field: "metadata.name", message: subdomain },
  // Labels and annotations.
  { object: pod("label-key", {}, { labels: { "bad key": "x" } }), field: "metadata.labels" },
  { object: pod("label-value", {}, { labels: { app: long(64) } }), field: "metadata.labels" },
  { object: pod("annotation-key", {}, { annotations: { "a/b/c": "x" } }), field: "metadata.annotations" },
  // Quantities.
  {
    object: pod("negative-cpu", { containers: [container({ resources: { requests: { cpu: "-1" } } })] }),
    field: "spec.containers[0].resources.requests[cpu]",
    message: 'Invalid value: "-1": must be greater than or equal to 0'
  },
  {
    object: pod("negative-memory", { containers: [container({ resources: { limits: { memory: "-1Gi" } } })] }),
    field: "spec.containers[0].resources.limits[memory]"
  },
  {
    object: pod("over-limit", {
      containers: [container({ resources: { requests: { cpu: "2" }, limits: { cpu: "1" } } })]
    }),
    field: "spec.containers[0].resources.requests",
    message: "must be less than or equal to cpu limit of 1"
  },
  {
    object: pod("bare-gpu", { containers: [container({ resources: { requests: { gpu: "1" } } })] }),
    field: "spec.containers[0].resources.requests[gpu]"
  },
  // Containers.
  { object: pod("no-containers", { containers: [] }), field: "spec.containers", message: "Required value" },
  { object: pod("container-name", { containers: [container({ name: "App" })] }), field: "spec.containers[0].name" },
  {
    object: pod("same-names", { containers: [container(), container()] }),
    field: "spec.containers[1].name",
    message: 'Duplicate value: "app"'
  },
  {
    object: pod("container-restart", { containers: [container({ restartPolicy: "Always" })] }),
    field: "spec.containers[0].restartPolicy"
  },
  {
    object: pod("init-restart", { initContainers: [container({ name: "init", restartPolicy: "Never" })] }),
    field: "spec.initContainers[0].restartPolicy"
  },
  {
    object: pod("port", { containers: [container({ ports: [{ containerPort: 70000 }] })] }),
    field: "spec.containers[0].ports[0].containerPort"
  },
  // Pod rules.
  { object: pod("restart-policy", { restartPolicy: "Sometimes" }), field: "spec.restartPolicy" },
  {
    object: pod("toleration-operator", { tolerations: [{ key: "a", operator: "In", value: "b" }] }),
    field: "spec.tolerations[0].operator"
  },
  {
    object: pod("toleration-effect", { tolerations: [{ key: "a", operator: "Exists", effect: "Sometimes" }] }),
    field: "spec.tolerations[0].effect"
  },
  {
    object: pod("max-skew", {
      topologySpreadConstraints: [
        { maxSkew: 0, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "DoNotSchedule" }
      ]
    }),
    field: "spec.topologySpreadConstraints[0].maxSkew"
  },
  { object: pod("node-selector", { nodeSelector: { zone: "a b" } }), field: "spec.nodeSelector" },
  {
    object: pod("affinity-operator", {
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: "zone", operator: "Equals", values: ["a"] }] }]
          }
        }
      }
    }),
    field:
      "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator"
  },
  { object: pod("volume-name", { volumes: [{ name: "Data", emptyDir: {} }] }), field: "spec.volumes[0].name" },
  // Workloads.
  { object: deployment("replicas", { replicas: -1 }), field: "spec.replicas" },
  {
    object: deployment("selector", { selector: { matchLabels: { app: "other" } } }),
    field: "spec.template.metadata.labels",
    message: "`selector` does not match template `labels`"
  },
  { object: deployment("template-restart", {}, { restartPolicy: "Never" }), field: "spec.template.spec.restartPolicy" },
  {
    object: named("v1", "Node", "tainted", { spec: { taints: [{ key: "a", effect: "Sometimes" }] } }),
    field: "spec.taints[0].effect"
  },
  // EC2NodeClass: upstream's CRD rules and CEL messages.
  {
    object: ec2NodeClass("no-amis", { amiSelectorTerms: undefined }),
    field: "spec.amiSelectorTerms",
    message: "Required value"
  },
  {
    object: ec2NodeClass("alias-and-owner", { amiSelectorTerms: [{ alias: "al2023@latest", owner: "amazon" }] }),
    field: "spec.amiSelectorTerms",
    message: "'alias' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms"
  },
  {
    object: ec2NodeClass("role-and-profile", { instanceProfile: "KarpenterNodeInstanceProfile" }),
    field: "spec",
    message: "must specify exactly one of ['role', 'instanceProfile']"
  },
  {
    object: ec2NodeClass("empty-subnet-term", { subnetSelectorTerms: [{}] }),
    field: "spec.subnetSelectorTerms",
    message: "expected at least one, got none, ['tags', 'id']"
  },
  {
    object: ec2NodeClass("restricted-tag", { tags: { "karpenter.sh/nodepool": "default" } }),
    field: "spec.tags",
    message: "tag contains a restricted tag matching karpenter.sh/nodepool"
  },
  { object: ec2NodeClass("unknown-ec2nodeclass", { foo: 1 }), field: "spec.foo", badRequest: true },
  // Unknown fields: kubectl's default fieldValidation=Strict.
  { object: pod("unknown-spec", { foo: 1 }), field: "spec.foo", badRequest: true },
  {
    object: pod("unknown-container", { containers: [container({ cpu: "1" })] }),
    field: "spec.containers[0].cpu",
    badRequest: true
  },
  { object: nodePool("unknown-nodepool", { foo: 1 }), field: "spec.foo", badRequest: true },
  { object: named("v1", "ConfigMap", "unknown-top", { date: { a: "b" } }), field: "date", badRequest: true }
]

/** Runs `node dist/bin.js ...args`: exit code and stderr. */
const cli = (...args: ReadonlyArray<string>): Effect.Effect<{ readonly code: number; readonly stderr: string }> =>
  Effect.callback((resume) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000 }, (error, _stdout, stderr) =>
      resume(Effect.succeed({ code: error === null ? 0 : Number(error.code ?? 1), stderr }))
    )
  })

describe.skipIf(kubectlMissing !== undefined)("validation of what users send", () => {
  it.live(
    `${cases.length} invalid objects: kubectl apply gets 422/400 naming the field, schedule exits 2 with one line`,
    () =>
      Effect.gen(function* () {
        assert.isAtLeast(cases.length, 30)
        const directory = yield* temporaryDirectory
        const inputs = join(directory, "objects")
        mkdirSync(inputs)
        const files = cases.map((testCase, i) => {
          const file = join(inputs, `case-${String(i).padStart(2, "0")}.json`)
          writeFileSync(file, JSON.stringify(testCase.object))
          return file
        })
        const dev = yield* startDev(join(directory, "kubeconfig"), ["--no-controllers"])
        const kubectl = kubectlFor(dev.kubeconfig, directory)

        // One kubectl run for the whole directory: it reports each object's refusal on a line naming its file.
        const applied = yield* kubectl("apply", "-f", inputs)
        assert.notStrictEqual(applied.code, 0)
        assert.strictEqual(applied.stdout.trim(), "", `nothing may be accepted:\n${applied.stdout}`)
        const refusals = applied.stderr.split("\n")
        const schedules = yield* Effect.forEach(files, (file) => cli("schedule", "-f", file), { concurrency: 4 })
        for (const [i, testCase] of cases.entries()) {
          const what = `${files[i]} (${testCase.field})`
          const refusal = refusals.find((line) => line.includes(`"${files[i]}"`))
          assert.isDefined(refusal, `kubectl reported nothing for ${what}:\n${applied.stderr}`)
          assert.include(refusal, testCase.badRequest === true ? "(BadRequest)" : "(Invalid)", what)
          assert.include(refusal, testCase.badRequest === true ? `unknown field "${testCase.field}"` : testCase.field)
          if (testCase.message !== undefined) assert.include(refusal, testCase.message, what)

          const scheduled = schedules[i]!
          assert.strictEqual(scheduled.code, 2, `schedule ${what}:\n${scheduled.stderr}`)
          const lines = scheduled.stderr.trimEnd().split("\n")
          assert.strictEqual(lines.length, 1, `schedule ${what} printed more than one line:\n${scheduled.stderr}`)
          assert.include(lines[0], testCase.field, `schedule ${what}`)
        }
      }),
    90_000
  )
})
