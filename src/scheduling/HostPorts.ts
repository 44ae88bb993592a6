/**
 * Host ports a pod binds and the ports already taken on a (simulated) node, as Karpenter's
 * `pkg/scheduling/hostportusage.go` (v1.4.0): on one node every `<hostIP, hostPort, protocol>` must be unique, and a
 * wildcard address collides with every address.
 */
import type * as Pod from "../api/Pod.ts"

/** One bound host port. `ip` "" or "0.0.0.0" (or "::") means every address; `protocol` is TCP unless stated. */
export interface HostPort {
  readonly ip: string
  readonly port: number
  readonly protocol: string
}

/** Whether the address is unspecified, i.e. binds every address. */
export const isWildcard = (ip: string): boolean => ip === "" || ip === "0.0.0.0" || ip === "::"

// One spelling per address so equal addresses compare equal as strings: IPv6 in the WHATWG canonical form, and
// IPv4-mapped IPv6 as plain IPv4 (Go's net.IP.Equal treats them as the same address).
const canonicalIp = (raw: string): string => {
  const ip = raw.trim()
  if (isWildcard(ip)) return "0.0.0.0"
  if (!ip.includes(":")) return ip
  let canonical: string
  try {
    canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1)
  } catch {
    return ip.toLowerCase()
  }
  if (canonical === "::") return "0.0.0.0"
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical)
  if (mapped !== null) {
    const high = Number.parseInt(mapped[1]!, 16)
    const low = Number.parseInt(mapped[2]!, 16)
    return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`
  }
  return canonical
}

/** `into` plus the containers' host ports; `into` itself (possibly undefined) while they bind none. */
const collect = (
  containers: ReadonlyArray<Pod.Container> | undefined,
  hostNetwork: boolean,
  into: Array<HostPort> | undefined
): Array<HostPort> | undefined => {
  if (containers === undefined) return into
  let result = into
  for (const container of containers) {
    if (container.ports === undefined) continue
    for (const port of container.ports) {
      // The API server defaults hostPort to containerPort for host-network pods; templates never went through it.
      const hostPort =
        port.hostPort !== undefined && port.hostPort > 0 ? port.hostPort : hostNetwork ? port.containerPort : 0
      if (hostPort <= 0) continue
      result ??= []
      result.push({ ip: canonicalIp(port.hostIP ?? ""), port: hostPort, protocol: port.protocol || "TCP" })
    }
  }
  return result
}

// Most pods bind no host port: they share one empty list instead of each allocating theirs.
const noHostPorts: ReadonlyArray<HostPort> = Object.freeze([])

/**
 * The host ports a pod binds: every container and init container port with a host port (for host-network pods every
 * container port). Addresses are canonical, the unspecified address is "0.0.0.0", protocols default to TCP.
 */
export const hostPortsOf = (spec: Pod.Spec): ReadonlyArray<HostPort> => {
  const hostNetwork = spec.hostNetwork === true
  return collect(spec.containers, hostNetwork, collect(spec.initContainers, hostNetwork, undefined)) ?? noHostPorts
}

/** Whether two host ports collide: same port and protocol, and equal addresses or either one a wildcard. */
export const conflicts = (a: HostPort, b: HostPort): boolean =>
  a.port === b.port && a.protocol === b.protocol && (a.ip === b.ip || isWildcard(a.ip) || isWildcard(b.ip))

/** A host port as `8080/TCP`, or `10.0.0.1:8080/TCP` when bound to one address. */
export const formatHostPort = (port: HostPort): string =>
  isWildcard(port.ip) ? `${port.port}/${port.protocol}` : `${port.ip}:${port.port}/${port.protocol}`

/**
 * The host ports taken on one node, by owner (a pod key). Mutable, like upstream's; {@link HostPortUsage.copy} gives
 * an independent usage for a simulated node.
 */
export class HostPortUsage {
  // Only owners that bind at least one port are kept, so most pods cost nothing here.
  private readonly reserved: Map<string, ReadonlyArray<HostPort>>

  constructor(reserved?: ReadonlyMap<string, ReadonlyArray<HostPort>>) {
    this.reserved = new Map(reserved)
  }

  /**
   * Undefined when none of `ports` collides with a taken port, else `host port 8080/TCP is in use`. Ports of
   * `owner` itself are skipped (a pod does not conflict with its own earlier reservation).
   */
  conflict(ports: ReadonlyArray<HostPort>, owner?: string): string | undefined {
    if (ports.length === 0 || this.reserved.size === 0) return undefined
    for (const port of ports) {
      for (const [holder, taken] of this.reserved) {
        if (holder === owner) continue
        for (const existing of taken) {
          if (conflicts(port, existing)) return `host port ${formatHostPort(port)} is in use`
        }
      }
    }
    return undefined
  }

  /** Records `owner`'s ports, replacing what it held before. */
  add(owner: string, ports: ReadonlyArray<HostPort>): void {
    if (ports.length === 0) this.reserved.delete(owner)
    else this.reserved.set(owner, ports)
  }

  /** Releases every port `owner` held. */
  remove(owner: string): void {
    this.reserved.delete(owner)
  }

  /** An independent copy (the port lists are immutable and shared). */
  copy(): HostPortUsage {
    return new HostPortUsage(this.reserved)
  }

  /** Whether no port is taken. */
  get isEmpty(): boolean {
    return this.reserved.size === 0
  }
}
