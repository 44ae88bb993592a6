import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { parseAllDocuments } from "yaml"

/** The repository root. */
export const root = join(import.meta.dirname, "..")

/** Every YAML document of a file under the repository root. */
export const readYamlDocuments = (path: string): Array<unknown> =>
  parseAllDocuments(readFileSync(join(root, path), "utf8")).map((document) => document.toJS())

/** The example NodePools shipped in examples/nodepools, by file name. */
export const exampleNodePools = (): Array<{ readonly file: string; readonly object: unknown }> =>
  readdirSync(join(root, "examples/nodepools"))
    .filter((file) => file.endsWith(".yaml"))
    .sort()
    .map((file) => ({ file, object: readYamlDocuments(join("examples/nodepools", file))[0] }))

/** A JSON dataset of the repository's data/ directory (instance-type catalogues). */
export const readDataJson = (file: string): unknown => JSON.parse(readFileSync(join(root, "data", file), "utf8"))

/**
 * A KWOKNodeClass `default` and a linux NodePool `default` on it, as YAML for kubectl: the start of every manifest the
 * kubectl-driven tests apply.
 */
export const kwokNodePoolYaml = (options: {
  readonly registrationDelay: string
  readonly consolidationPolicy: "WhenEmpty" | "WhenEmptyOrUnderutilized"
  readonly consolidateAfter: string
  readonly budgetNodes?: string
  readonly cpuLimit?: string
}): string => `apiVersion: karpenter.kwok.sh/v1alpha1
kind: KWOKNodeClass
metadata:
  name: default
spec:
  nodeRegistrationDelay: ${options.registrationDelay}
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: default
spec:
  template:
    spec:
      nodeClassRef:
        group: karpenter.kwok.sh
        kind: KWOKNodeClass
        name: default
      requirements:
        - key: kubernetes.io/os
          operator: In
          values: ["linux"]
  disruption:
    consolidationPolicy: ${options.consolidationPolicy}
    consolidateAfter: ${options.consolidateAfter}
${options.budgetNodes === undefined ? "" : `    budgets:\n      - nodes: "${options.budgetNodes}"\n`}${options.cpuLimit === undefined ? "" : `  limits:\n    cpu: "${options.cpuLimit}"\n`}---
`

/** The `web` Deployment the kubectl-driven tests apply: 3 replicas of 500m cpu / 512Mi, as YAML. */
export const webDeploymentYaml = (options: { readonly terminationGracePeriodSeconds?: number } = {}): string =>
  `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 3
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
${options.terminationGracePeriodSeconds === undefined ? "" : `      terminationGracePeriodSeconds: ${options.terminationGracePeriodSeconds}\n`}      containers:
        - name: web
          image: nginx
          resources:
            requests: { cpu: 500m, memory: 512Mi }
`
