/**
 * AL2023 user data (aws/karpenter-provider-aws v1.4.0, `pkg/providers/amifamily/bootstrap/nodeadm.go` and
 * `bootstrap/mime/mime.go`): a MIME multi-part archive of the user's parts followed by Karpenter's `NodeConfig`
 * (`node.eks.aws/v1alpha1`) carrying the cluster's name, endpoint, CA and service CIDR, the kubelet configuration
 * inline (with `registerWithTaints`) and the node labels as a kubelet flag. Pure functions.
 */
import { parse, stringify } from "yaml"
import type { TaintLike } from "../../../src/api/Taints.ts"

/** What the NodeConfig is built from. */
export interface Options {
  readonly clusterName: string
  readonly clusterEndpoint: string
  /** The cluster's service CIDR; nodeadm refuses a NodeConfig without one. */
  readonly clusterCIDR: string
  /** The cluster CA, base64-encoded as EKS answers it. */
  readonly caBundle?: string | undefined
  /** The kubelet configuration fields (the EC2NodeClass's `spec.kubelet`, with maxPods and clusterDNS resolved). */
  readonly kubelet: Readonly<Record<string, unknown>>
  readonly taints: ReadonlyArray<TaintLike>
  readonly labels: Readonly<Record<string, string>>
  /** The EC2NodeClass's `spec.userData`. */
  readonly customUserData?: string | undefined
  readonly instanceStorePolicy?: "RAID0" | undefined
}

/** A part of the archive. */
export interface Entry {
  readonly contentType: string
  readonly content: string
}

const boundary = "//"
/** nodeadm's content type: `application/` + its API group. */
export const contentTypeNodeConfig = "application/node.eks.aws"
export const contentTypeShellScript = 'text/x-shellscript; charset="us-ascii"'

/** The `--node-labels` flag, keys sorted (upstream `nodeLabelArg`); undefined without labels. */
export const nodeLabelFlag = (labels: Readonly<Record<string, string>>): string | undefined => {
  const keys = Object.keys(labels).sort()
  if (keys.length === 0) return undefined
  return `--node-labels=${JSON.stringify(keys.map((key) => `${key}=${labels[key]}`).join(","))}`
}

// corev1.Taint as JSON: `value` is omitted when empty.
const taintJson = (taint: TaintLike) => ({
  key: taint.key,
  ...(taint.value === undefined || taint.value === "" ? {} : { value: taint.value }),
  effect: taint.effect
})

/**
 * Karpenter's NodeConfig as YAML with its header comment (upstream `getNodeConfigYAML`). Keys come sorted and empty
 * structs as `{}`, as Go's JSON-then-YAML marshalling writes them.
 */
export const nodeConfig = (options: Options): string => {
  const flag = nodeLabelFlag(options.labels)
  const config = {
    apiVersion: "node.eks.aws/v1alpha1",
    kind: "NodeConfig",
    metadata: { creationTimestamp: null },
    spec: {
      cluster: {
        apiServerEndpoint: options.clusterEndpoint,
        ...(options.caBundle === undefined || options.caBundle === ""
          ? {}
          : { certificateAuthority: options.caBundle }),
        cidr: options.clusterCIDR,
        name: options.clusterName
      },
      containerd: {},
      instance: { localStorage: options.instanceStorePolicy === "RAID0" ? { strategy: "RAID0" } : {} },
      kubelet: {
        config: { ...options.kubelet, registerWithTaints: options.taints.map(taintJson) },
        ...(flag === undefined ? {} : { flags: [flag] })
      }
    }
  }
  return `# Karpenter Generated NodeConfig\n${stringify(config, { sortMapEntries: true, lineWidth: 0 })}`
}

const headerValue = (headers: string, name: string): string | undefined =>
  new RegExp(`^${name}:[ \\t]*(.*)$`, "im").exec(headers)?.[1]?.trim()

/** The parts of a MIME multi-part document; undefined when it is not one. */
const parseArchive = (text: string): Array<Entry> | undefined => {
  const normalized = text.replace(/\r\n/g, "\n")
  const split = normalized.indexOf("\n\n")
  const headers = split < 0 ? normalized : normalized.slice(0, split)
  const contentType = headerValue(headers, "Content-Type") ?? ""
  const boundaryParam = /boundary="?([^";]+)"?/i.exec(contentType)?.[1]
  if (!contentType.toLowerCase().startsWith("multipart/") || boundaryParam === undefined) return undefined
  const body = split < 0 ? "" : normalized.slice(split + 2)
  const delimiter = `--${boundaryParam}`
  const end = body.indexOf(`${delimiter}--`)
  const parts = (end < 0 ? body : body.slice(0, end)).split(`${delimiter}\n`).slice(1)
  return parts.map((part) => {
    const partSplit = part.indexOf("\n\n")
    const partHeaders = partSplit < 0 ? part : part.slice(0, partSplit)
    // The line break before the next delimiter belongs to the delimiter.
    const content = partSplit < 0 ? "" : part.slice(partSplit + 2).replace(/\n$/, "")
    return { contentType: headerValue(partHeaders, "Content-Type") ?? "", content }
  })
}

// Go's yaml.Unmarshal into a map accepts a mapping or nothing at all (a comment-only script is "null").
const isYamlMapping = (text: string): boolean => {
  try {
    const value: unknown = parse(text)
    return value === null || (typeof value === "object" && !Array.isArray(value))
  } catch {
    return false
  }
}

/**
 * The user's parts (upstream `parseUserData`): a MIME archive's parts as they are; otherwise the whole text as one
 * part, a NodeConfig when it parses as a YAML mapping, else a shell script. A MIME header without a multipart body
 * is an error upstream; here it is kept as a shell script part, which nodeadm reports on the node.
 */
export const customEntries = (userData: string | undefined): Array<Entry> => {
  if (userData === undefined || userData === "") return []
  const trimmed = userData.trim()
  if (trimmed.startsWith("MIME-Version:") || trimmed.startsWith("Content-Type:")) {
    const parts = parseArchive(userData)
    if (parts !== undefined) return parts
  }
  return [{ contentType: isYamlMapping(userData) ? contentTypeNodeConfig : contentTypeShellScript, content: userData }]
}

/** The archive as text, as Go's multipart writer lays it out with carriage returns removed (`Serialize`). */
export const serialize = (entries: ReadonlyArray<Entry>): string => {
  const parts = entries.map(
    (entry, index) => `${index === 0 ? "" : "\n"}--${boundary}\nContent-Type: ${entry.contentType}\n\n${entry.content}`
  )
  return `MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="${boundary}"\n\n${parts.join("")}\n--${boundary}--\n`
}

/** The user data script (the archive, not yet base64-encoded). */
export const script = (options: Options): string =>
  serialize([
    ...customEntries(options.customUserData),
    { contentType: contentTypeNodeConfig, content: nodeConfig(options) }
  ])

/** The user data as the launch template carries it: base64. */
export const userData = (options: Options): string => Buffer.from(script(options), "utf8").toString("base64")
