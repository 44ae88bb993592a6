import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Resources from "../../src/kube/Resources.ts"
import * as Manifests from "../../src/operator/Manifests.ts"

/** A temporary directory holding `files`, removed when the test's scope closes. */
const fixtures = (files: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = mkdtempSync(join(tmpdir(), "manifests-test-"))
      for (const [name, text] of Object.entries(files)) {
        const path = join(dir, name)
        mkdirSync(join(path, ".."), { recursive: true })
        writeFileSync(path, text)
      }
      return dir
    }),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

const load = (paths: ReadonlyArray<string>) => Manifests.load(paths).pipe(Effect.provide(NodeServices.layer))

/** The one-line message of a failing load, with the temporary directory replaced by `$DIR`. */
const loadError = (dir: string, paths: ReadonlyArray<string>) =>
  load(paths).pipe(
    Effect.flip,
    Effect.map((error) => {
      assert.strictEqual(error._tag, "ManifestError")
      assert.notInclude(error.message, "\n")
      return error.message.replaceAll(dir, "$DIR")
    })
  )

const nodePool = (name: string, extra = "") => `apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: ${name}
spec:${extra}
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements:
        - {key: kubernetes.io/arch, operator: In, values: [amd64]}
`

const pod = (name: string, namespace?: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}${namespace === undefined ? "" : `\n  namespace: ${namespace}`}
spec:
  containers:
    - name: app
      image: nginx
      resources: {requests: {cpu: 500m}}
`

const nodeClass = `apiVersion: karpenter.kwok.sh/v1alpha1
kind: KWOKNodeClass
metadata:
  name: default
`

/** An EC2NodeClass; `aliasExtra` adds a field to its alias term. */
const ec2NodeClass = (name: string, aliasExtra = "") => `apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: ${name}}
spec:
  role: KarpenterNodeRole
  amiSelectorTerms: [{alias: al2023@latest${aliasExtra === "" ? "" : `, ${aliasExtra}`}}]
  subnetSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
  securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
`

const scenario = `apiVersion: karpenter-effect.dev/v1alpha1
kind: Scenario
metadata: {name: s}
spec:
  duration: 2h
  steps: [{at: 10m, delete: [{kind: Deployment, name: web}]}]
`

describe("Manifests.load", () => {
  it.effect("reads a multi-document file, skipping empty documents and defaulting namespaces", () =>
    Effect.gen(function* () {
      const dir = yield* fixtures({
        "all.yaml": `---\n${nodePool("default")}---\n# only a comment\n---\n${pod("a")}---\n${pod("b", "team")}\n---\n${nodeClass}`
      })
      const manifests = yield* load([join(dir, "all.yaml")])
      assert.deepStrictEqual(
        manifests.nodePools.map((np) => np.metadata.name),
        ["default"]
      )
      assert.deepStrictEqual(
        manifests.pods.map((p) => [p.metadata.namespace, p.metadata.name]),
        [
          ["default", "a"],
          ["team", "b"]
        ]
      )
      assert.deepStrictEqual(
        manifests.nodeClasses.map((nc) => nc.metadata.name),
        ["default"]
      )
      // Decoding applied the schema's defaults.
      assert.strictEqual(manifests.nodePools[0]?.spec.template.spec.expireAfter, "720h")
      assert.deepStrictEqual(
        Manifests.objects(manifests).map(({ resource, object, source }) => [
          resource.kind,
          object.metadata.name,
          source.document
        ]),
        [
          ["NodePool", "default", 1],
          ["Pod", "a", 3],
          ["Pod", "b", 4],
          ["KWOKNodeClass", "default", 5]
        ]
      )
    })
  )

  it.effect("reads a directory's yaml, yml and json files sorted by name, skipping others and subdirectories", () =>
    Effect.gen(function* () {
      const dir = yield* fixtures({
        "b.yml": pod("from-b"),
        "a.yaml": pod("from-a"),
        "c.json": JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "team" } }),
        "README.md": "not a manifest",
        "nested/d.yaml": pod("nested")
      })
      const manifests = yield* load([dir])
      assert.deepStrictEqual(
        manifests.pods.map((p) => p.metadata.name),
        ["from-a", "from-b"]
      )
      assert.deepStrictEqual(
        manifests.namespaces.map((ns) => ns.metadata.name),
        ["team"]
      )
      assert.deepStrictEqual(
        Manifests.objects(manifests).map(({ source }) => source.file.replace(dir, "$DIR")),
        ["$DIR/a.yaml", "$DIR/b.yml", "$DIR/c.json"]
      )
    })
  )

  it.effect("keeps input order across several paths", () =>
    Effect.gen(function* () {
      const dir = yield* fixtures({ "x.yaml": pod("x"), "y.yaml": pod("y") })
      const manifests = yield* load([join(dir, "y.yaml"), join(dir, "x.yaml")])
      assert.deepStrictEqual(
        manifests.pods.map((p) => p.metadata.name),
        ["y", "x"]
      )
    })
  )

  it.effect("expands List documents and top-level arrays", () =>
    Effect.gen(function* () {
      const list = {
        apiVersion: "v1",
        kind: "List",
        items: [
          { apiVersion: "v1", kind: "Pod", metadata: { name: "p1" }, spec: { containers: [{ name: "app" }] } },
          { apiVersion: "storage.k8s.io/v1", kind: "StorageClass", metadata: { name: "gp3" }, provisioner: "ebs" }
        ]
      }
      const dir = yield* fixtures({
        "list.json": JSON.stringify(list),
        "array.json": JSON.stringify([
          { apiVersion: "v1", kind: "Pod", metadata: { name: "p2" }, spec: { containers: [{ name: "app" }] } }
        ])
      })
      const manifests = yield* load([join(dir, "list.json"), join(dir, "array.json")])
      assert.deepStrictEqual(
        manifests.pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`),
        ["default/p1", "default/p2"]
      )
      assert.deepStrictEqual(
        manifests.storageClasses.map((sc) => sc.metadata.name),
        ["gp3"]
      )
    })
  )

  it.effect("sorts kinds into their arrays and keeps other known kinds", () =>
    Effect.gen(function* () {
      const docs = [
        { apiVersion: "v1", kind: "Node", metadata: { name: "n1" } },
        { apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "ds" }, spec: dsSpec },
        { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "lock" }, spec: {} }
      ]
      const dir = yield* fixtures({ "k.yaml": docs.map((d) => JSON.stringify(d)).join("\n---\n") })
      const manifests = yield* load([join(dir, "k.yaml")])
      assert.deepStrictEqual(
        manifests.nodes.map((n) => n.metadata.name),
        ["n1"]
      )
      assert.deepStrictEqual(
        manifests.daemonSets.map((d) => d.metadata.namespace),
        ["default"]
      )
      assert.deepStrictEqual(
        manifests.others.map(({ resource, object }) => [resource, object.metadata.name]),
        [[Resources.Leases, "lock"]]
      )
      // Cluster-scoped: no namespace defaulted.
      assert.strictEqual(manifests.nodes[0]?.metadata.namespace, undefined)
    })
  )

  it.effect("validates EC2NodeClasses with upstream's rules and keeps them with the other known kinds", () =>
    Effect.gen(function* () {
      const dir = yield* fixtures({
        "aws.yaml": ec2NodeClass("default"),
        "bad.yaml": ec2NodeClass("bad", "owner: amazon")
      })
      const manifests = yield* load([join(dir, "aws.yaml")])
      assert.deepStrictEqual(
        manifests.others.map(({ resource, object }) => [resource, object.metadata.name]),
        [[Resources.EC2NodeClasses, "default"]]
      )
      assert.strictEqual(
        yield* loadError(dir, [join(dir, "bad.yaml")]),
        `$DIR/bad.yaml: document 1: invalid EC2NodeClass "bad": spec.amiSelectorTerms: 'alias' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms`
      )
    })
  )

  it.effect("returns Scenario documents undecoded, with their source", () =>
    Effect.gen(function* () {
      const dir = yield* fixtures({ "s.yaml": `${pod("a")}---\n${scenario}` })
      const manifests = yield* load([join(dir, "s.yaml")])
      assert.strictEqual(manifests.pods.length, 1)
      assert.strictEqual(manifests.scenarios.length, 1)
      assert.strictEqual(manifests.scenarios[0]?.source.document, 2)
      assert.deepStrictEqual((manifests.scenarios[0]!.raw as any).spec.duration, "2h")
      assert.strictEqual(Manifests.objects(manifests).length, 1)
    })
  )

  it.effect("reports an invalid object with the file, the document and the field", () =>
    Effect.gen(function* () {
      const dir = yield* fixtures({ "bad.yaml": `${pod("a")}---\n${nodePool("default", "\n  weight: 0")}` })
      assert.strictEqual(
        yield* loadError(dir, [join(dir, "bad.yaml")]),
        `$DIR/bad.yaml: document 2: invalid NodePool "default": spec.weight: Expected a value between 1 and 100`
      )
    })
  )

  it.effect("holds objects to kube-apiserver's validation and its strict decoding, in its words", () =>
    Effect.gen(function* () {
      const dir = yield* fixtures({
        "name.yaml": pod("BadName"),
        "cpu.yaml": `${pod("a")}---\n${pod("b").replace("cpu: 500m", 'cpu: "-1"')}`,
        "typo.yaml": pod("c").replace("      resources:", "      resource:"),
        "configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\ndata: {a: b}\n"
      })
      const message = (file: string) => loadError(dir, [join(dir, file)])
      assert.strictEqual(
        yield* message("name.yaml"),
        `$DIR/name.yaml: document 1: invalid Pod "default/BadName": metadata.name: Invalid value: "BadName": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`
      )
      assert.strictEqual(
        yield* message("cpu.yaml"),
        `$DIR/cpu.yaml: document 2: invalid Pod "default/b": spec.containers[0].resources.requests[cpu]: Invalid value: "-1": must be greater than or equal to 0`
      )
      assert.strictEqual(
        yield* message("typo.yaml"),
        `$DIR/typo.yaml: document 1: invalid Pod "default/c": strict decoding error: unknown field "spec.containers[0].resource"`
      )
      assert.match(
        yield* message("configmap.yaml"),
        /^\$DIR\/configmap\.yaml: document 1: invalid ConfigMap "default\/Bad_Name": metadata\.name: Invalid value/
      )
    })
  )

  it.effect("reads the other kinds a cluster serves (Secrets, Services, RBAC) and leaves them out", () =>
    Effect.gen(function* () {
      const dir = yield* fixtures({
        "app.yaml": `apiVersion: v1\nkind: Secret\nmetadata: {name: settings}\nstringData: {a: b}\n---\n${pod("a")}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: "system:reader"}\nrules: [{apiGroups: [""], resources: [pods], verbs: [get]}]\n`
      })
      const manifests = yield* load([join(dir, "app.yaml")])
      assert.deepStrictEqual(
        manifests.entries.map((entry) => `${entry.resource.kind}/${entry.object.metadata.name}`),
        ["Pod/a"]
      )
    })
  )

  it.effect("reports unknown kinds, missing apiVersion or kind, non-objects and missing names", () =>
    Effect.gen(function* () {
      const dir = yield* fixtures({
        "widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
        "nokind.yaml": "apiVersion: v1\nmetadata: {name: w}\n",
        "scalar.yaml": `${pod("a")}---\njust a string\n`,
        "noname.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {}\nspec: {containers: [{name: app}]}\n",
        "badlist.yaml":
          "apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: Pod, metadata: {name: ok}, spec: {containers: [{name: app}]}}\n  - {apiVersion: v9, kind: Pod}\n",
        "otherscenario.yaml": "apiVersion: karpenter-effect.dev/v1alpha1\nkind: Widget\n"
      })
      const message = (file: string) => loadError(dir, [join(dir, file)])
      assert.strictEqual(
        yield* message("widget.yaml"),
        "$DIR/widget.yaml: document 1: unknown kind example.com/v1 Widget"
      )
      assert.strictEqual(yield* message("nokind.yaml"), "$DIR/nokind.yaml: document 1: missing kind")
      assert.strictEqual(
        yield* message("scalar.yaml"),
        "$DIR/scalar.yaml: document 2: expected a Kubernetes object (a mapping with apiVersion and kind)"
      )
      assert.strictEqual(
        yield* message("noname.yaml"),
        "$DIR/noname.yaml: document 1: invalid Pod: metadata.name: Required value: name or generateName is required"
      )
      assert.strictEqual(yield* message("badlist.yaml"), "$DIR/badlist.yaml: document 1: items[1]: unknown kind v9 Pod")
      assert.strictEqual(
        yield* message("otherscenario.yaml"),
        "$DIR/otherscenario.yaml: document 1: unknown kind karpenter-effect.dev/v1alpha1 Widget"
      )
    })
  )

  it.effect("reports YAML syntax errors with their line and column", () =>
    Effect.gen(function* () {
      const dir = yield* fixtures({
        "x.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n    labels: {a: b}\n",
        "tab.yaml": "a: 1\n\tb: 2\n",
        "alias.yaml": "a: *missing\n"
      })
      const x = yield* loadError(dir, [join(dir, "x.yaml")])
      assert.strictEqual(
        x,
        "$DIR/x.yaml: YAML syntax error at line 4, column 9: Nested mappings are not allowed in compact mappings"
      )
      const tab = yield* loadError(dir, [join(dir, "tab.yaml")])
      assert.strictEqual(
        tab,
        "$DIR/tab.yaml: YAML syntax error at line 2, column 1: Tabs are not allowed as indentation"
      )
      const alias = yield* loadError(dir, [join(dir, "alias.yaml")])
      assert.strictEqual(
        alias,
        "$DIR/alias.yaml: document 1: YAML error: Unresolved alias (the anchor must be set before the alias): missing"
      )
    })
  )

  it.effect("reports missing files and directories without manifests", () =>
    Effect.gen(function* () {
      const dir = yield* fixtures({ "empty/README.md": "nothing here" })
      assert.strictEqual(yield* loadError(dir, [join(dir, "nope.yaml")]), "$DIR/nope.yaml: no such file or directory")
      assert.strictEqual(yield* loadError(dir, [join(dir, "empty")]), "$DIR/empty: no *.yaml, *.yml, *.json files")
    })
  )

  it.effect("rejects the same object twice, naming both places", () =>
    Effect.gen(function* () {
      const dir = yield* fixtures({ "a.yaml": pod("web"), "b.yaml": `${pod("other")}---\n${pod("web", "default")}` })
      assert.strictEqual(
        yield* loadError(dir, [dir]),
        `$DIR/b.yaml: document 2: duplicate Pod "default/web" (first in $DIR/a.yaml, document 1)`
      )
    })
  )
})

describe("Manifests.parse", () => {
  it.effect("parses text without a file system and drops a namespace from cluster-scoped objects", () =>
    Effect.gen(function* () {
      const manifests = yield* Manifests.parse(
        "inline.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: n, namespace: ignored}\n"
      )
      assert.strictEqual(manifests.nodes[0]?.metadata.namespace, undefined)
      const error = yield* Manifests.parse("inline.yaml", "kind: Pod\n").pipe(Effect.flip)
      assert.strictEqual(error.message, "inline.yaml: document 1: missing apiVersion")
    })
  )
})

const dsSpec = {
  selector: { matchLabels: { app: "ds" } },
  template: { metadata: { labels: { app: "ds" } }, spec: { containers: [{ name: "exporter" }] } }
}
