/**
 * `kubectl kustomize manifests/` renders what a cluster install needs: the three CRDs, RBAC, the ServiceAccount, the
 * Deployment (two hardened replicas of this release's image), its PodDisruptionBudget and metrics Service, every
 * namespaced object in `karpenter`. `kubectl kustomize manifests/aws/` renders the same base for EKS: the EC2NodeClass
 * CRD instead of KWOK's, the controller started with `--cloud-provider aws` on settings it accepts, the ServiceAccount
 * annotated for IRSA. Skipped, with the reason printed, only where kubectl is not installed.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import { parseAllDocuments } from "yaml"
import * as AwsOperator from "../../layers/cloudprovider/aws/operator/AwsOperator.ts"
import * as Options from "../../src/operator/Options.ts"
import { root } from "../fixtures.ts"

const kubectl = "/usr/bin/kubectl"
const hasKubectl = existsSync(kubectl)
if (!hasKubectl) console.log(`test/manifests/Kustomize.test.ts skipped: ${kubectl} is not installed`)

interface Rendered {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: {
    readonly name: string
    readonly namespace?: string
    readonly annotations?: Readonly<Record<string, string>>
  }
  /** Read field by field in the assertions. */
  readonly spec?: any
  readonly data?: Readonly<Record<string, string>>
  readonly rules?: ReadonlyArray<{
    readonly apiGroups: ReadonlyArray<string>
    readonly resources: ReadonlyArray<string>
  }>
  readonly subjects?: ReadonlyArray<{ readonly name: string; readonly namespace: string }>
}

/** The objects `kubectl kustomize` renders from a folder of the repository. */
const render = (directory: string): ReadonlyArray<Rendered> =>
  parseAllDocuments(execFileSync(kubectl, ["kustomize", join(root, directory)], { encoding: "utf8" })).map(
    (document) => document.toJS() as Rendered
  )

/** The rendered objects of one kind. */
const ofKind = (objects: ReadonlyArray<Rendered>, kind: string) => objects.filter((object) => object.kind === kind)

const crdNames = (objects: ReadonlyArray<Rendered>) =>
  ofKind(objects, "CustomResourceDefinition")
    .map((object) => object.metadata.name)
    .sort()

/** Every (Cluster)RoleBinding binds the one ServiceAccount the Deployment runs as. */
const assertBindingsName = (objects: ReadonlyArray<Rendered>, serviceAccount: string) => {
  const bindings = [...ofKind(objects, "ClusterRoleBinding"), ...ofKind(objects, "RoleBinding")]
  assert.isAbove(bindings.length, 1)
  for (const binding of bindings) {
    assert.deepStrictEqual(
      (binding.subjects ?? []).map((subject) => [subject.name, subject.namespace]),
      [[serviceAccount, "karpenter"]],
      binding.metadata.name
    )
  }
}

const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version

const clusterScoped = new Set(["Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"])

describe.skipIf(!hasKubectl)("kubectl kustomize manifests/", () => {
  const objects = hasKubectl ? render("manifests") : []
  const one = (kind: string) => {
    const matching = ofKind(objects, kind)
    assert.lengthOf(matching, 1, kind)
    return matching[0]!
  }

  it("renders the CRDs, namespace, RBAC (the base's and the KWOK provider's), ServiceAccount, Deployment, PDB and Service", () => {
    assert.deepStrictEqual(crdNames(objects), [
      "capacitybuffers.autoscaling.x-k8s.io",
      "kwoknodeclasses.karpenter.kwok.sh",
      "nodeclaims.karpenter.sh",
      "nodeoverlays.karpenter.sh",
      "nodepools.karpenter.sh"
    ])
    assert.deepStrictEqual(objects.map((object) => object.kind).sort(), [
      "ClusterRole",
      "ClusterRole",
      "ClusterRoleBinding",
      "ClusterRoleBinding",
      "CustomResourceDefinition",
      "CustomResourceDefinition",
      "CustomResourceDefinition",
      "CustomResourceDefinition",
      "CustomResourceDefinition",
      "Deployment",
      "Namespace",
      "PodDisruptionBudget",
      "Role",
      "Role",
      "RoleBinding",
      "RoleBinding",
      "Service",
      "ServiceAccount"
    ])
  })

  it("puts every namespaced object in karpenter and leaves cluster-scoped ones without a namespace", () => {
    for (const object of objects) {
      const expected = clusterScoped.has(object.kind) ? undefined : "karpenter"
      assert.strictEqual(object.metadata.namespace, expected, `${object.kind} ${object.metadata.name}`)
    }
    assert.strictEqual(one("Namespace").metadata.name, "karpenter")
  })

  it("runs two replicas of this release's image as the controller, under the ServiceAccount RBAC binds", () => {
    const deployment = one("Deployment")
    const pod = deployment.spec.template.spec
    const [container, ...others] = pod.containers
    assert.lengthOf(others, 0)
    assert.strictEqual(deployment.spec.replicas, 2)
    assert.strictEqual(container.image, `karpenter-effect:${version}`)
    assert.deepStrictEqual(container.args, ["controller"])
    assert.isUndefined(container.command, "the image's entrypoint runs dist/bin.js")
    const serviceAccount = one("ServiceAccount").metadata.name
    assert.strictEqual(pod.serviceAccountName, serviceAccount)
    assertBindingsName(objects, serviceAccount)
  })

  it("hardens the pod: non-root 65532, read-only root filesystem, no privilege escalation, no capabilities, seccomp", () => {
    const pod = one("Deployment").spec.template.spec
    const security = pod.containers[0].securityContext
    assert.strictEqual(security.runAsNonRoot, true)
    assert.strictEqual(security.runAsUser, 65532)
    assert.strictEqual(security.readOnlyRootFilesystem, true)
    assert.strictEqual(security.allowPrivilegeEscalation, false)
    assert.deepStrictEqual(security.capabilities, { drop: ["ALL"] })
    assert.deepStrictEqual(security.seccompProfile, { type: "RuntimeDefault" })
    assert.deepStrictEqual(pod.securityContext.seccompProfile, { type: "RuntimeDefault" })
    assert.strictEqual(pod.securityContext.runAsNonRoot, true)
  })

  it("serves metrics on 8080 and probes on 8081, with the env naming the same ports", () => {
    const container = one("Deployment").spec.template.spec.containers[0]
    const ports = Object.fromEntries(
      container.ports.map((port: { name: string; containerPort: number }) => [port.name, port.containerPort])
    )
    assert.deepStrictEqual(ports, { "http-metrics": 8080, http: 8081 })
    const env = Object.fromEntries(
      container.env.map((variable: { name: string; value?: string; valueFrom?: unknown }) => [
        variable.name,
        variable.value ?? variable.valueFrom
      ])
    )
    assert.strictEqual(env.METRICS_PORT, "8080")
    assert.strictEqual(env.HEALTH_PROBE_PORT, "8081")
    assert.deepStrictEqual(env.LEADER_ELECTION_NAMESPACE, { fieldRef: { fieldPath: "metadata.namespace" } })
    assert.deepStrictEqual(container.livenessProbe.httpGet, { path: "/healthz", port: "http" })
    assert.deepStrictEqual(container.readinessProbe.httpGet, { path: "/readyz", port: "http" })
    for (const kind of ["requests", "limits"]) {
      assert.containsAllKeys(container.resources[kind], ["cpu", "memory"], kind)
    }
    const service = one("Service").spec
    assert.deepStrictEqual(service.ports, [
      { name: "http-metrics", port: 8080, targetPort: "http-metrics", protocol: "TCP" }
    ])
  })

  it("schedules like upstream's chart: critical, spread over zones and hosts, never on Karpenter's own nodes", () => {
    const pod = one("Deployment").spec.template.spec
    assert.strictEqual(pod.priorityClassName, "system-cluster-critical")
    assert.deepStrictEqual(pod.tolerations, [{ key: "CriticalAddonsOnly", operator: "Exists" }])
    assert.deepStrictEqual(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms, [
      { matchExpressions: [{ key: "karpenter.sh/nodepool", operator: "DoesNotExist" }] }
    ])
    assert.deepStrictEqual(
      pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution.map(
        (term: { topologyKey: string }) => term.topologyKey
      ),
      ["kubernetes.io/hostname"]
    )
    assert.deepStrictEqual(
      pod.topologySpreadConstraints.map((constraint: { topologyKey: string; maxSkew: number }) => [
        constraint.topologyKey,
        constraint.maxSkew
      ]),
      [["topology.kubernetes.io/zone", 1]]
    )
  })

  it("selects the controller pods from the Deployment, PDB (maxUnavailable 1) and Service alike", () => {
    const deployment = one("Deployment").spec
    const labels = deployment.template.metadata.labels
    const selects = (selector: Record<string, string>) =>
      Object.entries(selector).every(([key, value]) => labels[key] === value)
    assert.isTrue(selects(deployment.selector.matchLabels))
    const pdb = one("PodDisruptionBudget").spec
    assert.strictEqual(pdb.maxUnavailable, 1)
    assert.isTrue(selects(pdb.selector.matchLabels))
    assert.isTrue(selects(one("Service").spec.selector))
    for (const term of deployment.template.spec.affinity.podAntiAffinity
      .requiredDuringSchedulingIgnoredDuringExecution) {
      assert.isTrue(selects(term.labelSelector.matchLabels))
    }
  })
})

describe.skipIf(!hasKubectl)("kubectl kustomize manifests/aws/", () => {
  const objects = hasKubectl ? render("manifests/aws") : []
  const one = (kind: string) => {
    const matching = ofKind(objects, kind)
    assert.lengthOf(matching, 1, kind)
    return matching[0]!
  }
  const container = () => one("Deployment").spec.template.spec.containers[0]

  it("installs the base with the EC2NodeClass CRD and no KWOK piece", () => {
    assert.deepStrictEqual(crdNames(objects), [
      "capacitybuffers.autoscaling.x-k8s.io",
      "ec2nodeclasses.karpenter.k8s.aws",
      "nodeclaims.karpenter.sh",
      "nodeoverlays.karpenter.sh",
      "nodepools.karpenter.sh"
    ])
    const rules = [...ofKind(objects, "ClusterRole"), ...ofKind(objects, "Role")].flatMap((role) => role.rules ?? [])
    for (const rule of rules) {
      assert.notInclude(rule.apiGroups, "karpenter.kwok.sh")
      assert.notInclude(rule.resources, "configmaps", "the KWOK provider's instance records")
    }
    const deployment = one("Deployment")
    assert.strictEqual(deployment.spec.replicas, 2)
    assert.strictEqual(container().image, `karpenter-effect:${version}`)
    assert.strictEqual(container().securityContext.readOnlyRootFilesystem, true)
  })

  it("starts `controller --cloud-provider aws` on the settings ConfigMap, which the controller accepts", () => {
    const { args, env, envFrom } = container()
    assert.deepStrictEqual(args, ["controller", "--cloud-provider", "aws"])
    const [source, ...others] = envFrom as ReadonlyArray<{ configMapRef: { name: string } }>
    assert.lengthOf(others, 0)
    const settings = ofKind(objects, "ConfigMap").find((object) => object.metadata.name === source?.configMapRef.name)
    assert.isDefined(settings, "the ConfigMap the Deployment reads is rendered (its generated name)")
    assert.strictEqual(settings?.metadata.namespace, "karpenter")
    const data = settings?.data ?? {}
    for (const variable of ["CLUSTER_NAME", "CLUSTER_ENDPOINT", "CLUSTER_CIDR", "AWS_REGION", "INTERRUPTION_QUEUE"]) {
      assert.property(data, variable)
    }
    const known = new Set(Options.definitions.map((definition) => definition.env))
    for (const variable of Object.keys(data)) assert.isTrue(known.has(variable), `${variable} is an option`)

    // The process's environment as the kubelet builds it: the ConfigMap's keys, then the container's own variables.
    const variables = Object.fromEntries(
      (env as ReadonlyArray<{ name: string; value?: string }>).flatMap((variable) =>
        variable.value === undefined ? [] : [[variable.name, variable.value]]
      )
    )
    const parsed = Options.parse(args.slice(1), { ...data, ...variables })
    assert.isTrue(Result.isSuccess(parsed), JSON.stringify(parsed))
    const options = Result.getOrThrow(parsed)
    assert.strictEqual(options._tag, "Run")
    if (options._tag !== "Run") return
    assert.strictEqual(options.options.cloudProvider, "aws")
    assert.strictEqual(options.options.aws.region, data.AWS_REGION)
    assert.strictEqual(options.options.aws.interruptionQueue, data.INTERRUPTION_QUEUE)
    const validated = AwsOperator.validate(options.options.aws)
    assert.isTrue(Result.isSuccess(validated), JSON.stringify(validated))
  })

  it("annotates the ServiceAccount with the controller's IAM role (IRSA) and binds RBAC to it", () => {
    const serviceAccount = one("ServiceAccount")
    assert.match(
      serviceAccount.metadata.annotations?.["eks.amazonaws.com/role-arn"] ?? "",
      /^arn:aws:iam::\d{12}:role\/.+$/
    )
    assert.strictEqual(one("Deployment").spec.template.spec.serviceAccountName, serviceAccount.metadata.name)
    assertBindingsName(objects, serviceAccount.metadata.name)
  })

  it("keeps every namespaced object in karpenter but the kube-dns Role and its binding, in kube-system", () => {
    for (const object of objects) {
      const expected = clusterScoped.has(object.kind)
        ? undefined
        : object.metadata.name === "karpenter-aws-dns"
          ? "kube-system"
          : "karpenter"
      assert.strictEqual(object.metadata.namespace, expected, `${object.kind} ${object.metadata.name}`)
    }
    assert.deepStrictEqual(
      [...ofKind(objects, "Role"), ...ofKind(objects, "RoleBinding")]
        .filter((object) => object.metadata.namespace === "kube-system")
        .map((object) => `${object.kind} ${object.metadata.name}`),
      ["Role karpenter-aws-dns", "RoleBinding karpenter-aws-dns"]
    )
  })
})
