import { assert, describe, it } from "@effect/vitest"
import type * as Pod from "../../src/api/Pod.ts"
import * as HostPorts from "../../src/scheduling/HostPorts.ts"

const port = (port: number, ip = "0.0.0.0", protocol = "TCP"): HostPorts.HostPort => ({ ip, port, protocol })

describe("conflicts", () => {
  it("identical ports collide, both ways", () => {
    assert.isTrue(HostPorts.conflicts(port(4443, "10.0.0.1"), port(4443, "10.0.0.1")))
  })

  it("a wildcard address collides with any address", () => {
    for (const wildcard of ["0.0.0.0", "", "::"]) {
      assert.isTrue(HostPorts.conflicts(port(4443, "10.0.0.1"), port(4443, wildcard)), wildcard)
      assert.isTrue(HostPorts.conflicts(port(4443, wildcard), port(4443, "10.0.0.1")), wildcard)
    }
  })

  it("distinct specific addresses do not collide", () => {
    assert.isFalse(HostPorts.conflicts(port(4443, "10.0.0.1"), port(4443, "10.0.0.2")))
  })

  it("different protocols or ports do not collide", () => {
    assert.isFalse(HostPorts.conflicts(port(4443, "10.0.0.1", "TCP"), port(4443, "10.0.0.1", "SCTP")))
    assert.isFalse(HostPorts.conflicts(port(4443), port(443)))
  })
})

const container = (name: string, ports: Pod.Container["ports"]): Pod.Container =>
  ports === undefined ? { name } : { name, ports }

describe("hostPortsOf", () => {
  it("collects ports with a host port from containers and init containers, with defaults", () => {
    const spec: Pod.Spec = {
      initContainers: [container("init", [{ containerPort: 9000, hostPort: 9000, protocol: "UDP" }])],
      containers: [
        container("app", [
          { containerPort: 80 },
          { containerPort: 8080, hostPort: 8080 },
          { containerPort: 53, hostPort: 53, hostIP: "10.0.0.1", protocol: "UDP" }
        ]),
        container("sidecar", undefined)
      ]
    }
    assert.deepStrictEqual(HostPorts.hostPortsOf(spec), [
      port(9000, "0.0.0.0", "UDP"),
      port(8080),
      port(53, "10.0.0.1", "UDP")
    ])
  })

  it("counts every container port of a host-network pod", () => {
    const spec: Pod.Spec = { hostNetwork: true, containers: [container("app", [{ containerPort: 9100 }])] }
    assert.deepStrictEqual(HostPorts.hostPortsOf(spec), [port(9100)])
  })

  it("reads specs that share containers by what else they say (host network, init containers)", () => {
    const containers = [container("app", [{ containerPort: 9100 }])]
    const plain: Pod.Spec = { containers }
    assert.deepStrictEqual(HostPorts.hostPortsOf(plain), [])
    assert.deepStrictEqual(HostPorts.hostPortsOf({ ...plain, hostNetwork: true }), [port(9100)])
    const init = [container("init", [{ containerPort: 9000, hostPort: 9000 }])]
    assert.deepStrictEqual(HostPorts.hostPortsOf({ ...plain, initContainers: init }), [port(9000)])
    assert.deepStrictEqual(HostPorts.hostPortsOf(plain), [])
  })

  it("spells equal addresses alike", () => {
    const spec: Pod.Spec = {
      containers: [
        container("app", [
          { containerPort: 1, hostPort: 1, hostIP: "::ffff:10.0.0.1" },
          { containerPort: 2, hostPort: 2, hostIP: "FE80:0:0::1" },
          { containerPort: 3, hostPort: 3, hostIP: "::" }
        ])
      ]
    }
    assert.deepStrictEqual(
      HostPorts.hostPortsOf(spec).map((hostPort) => hostPort.ip),
      ["10.0.0.1", "fe80::1", "0.0.0.0"]
    )
  })

  it("is empty for pods without host ports", () => {
    assert.deepStrictEqual(HostPorts.hostPortsOf({ containers: [container("app", [{ containerPort: 80 }])] }), [])
  })
})

describe("HostPortUsage", () => {
  it("reports a port in use, by any other owner", () => {
    const usage = new HostPorts.HostPortUsage()
    assert.isTrue(usage.isEmpty)
    usage.add("default/a", [port(8080)])
    assert.isFalse(usage.isEmpty)
    assert.strictEqual(usage.conflict([port(8080, "10.0.0.1")]), "host port 10.0.0.1:8080/TCP is in use")
    assert.strictEqual(usage.conflict([port(9090), port(8080)]), "host port 8080/TCP is in use")
    assert.isUndefined(usage.conflict([port(8080, "0.0.0.0", "UDP")]))
    assert.isUndefined(usage.conflict([]))
    // An owner does not conflict with itself.
    assert.isUndefined(usage.conflict([port(8080)], "default/a"))
  })

  it("lets specific addresses share a port", () => {
    const usage = new HostPorts.HostPortUsage()
    usage.add("default/a", [port(53, "10.0.0.1")])
    assert.isUndefined(usage.conflict([port(53, "10.0.0.2")]))
    assert.isDefined(usage.conflict([port(53)]))
  })

  it("releases ports on remove, and on add with no ports", () => {
    const usage = new HostPorts.HostPortUsage()
    usage.add("default/a", [port(8080)])
    usage.remove("default/a")
    assert.isTrue(usage.isEmpty)
    assert.isUndefined(usage.conflict([port(8080)]))
    usage.add("default/b", [port(8080)])
    usage.add("default/b", [])
    assert.isTrue(usage.isEmpty)
  })

  it("copies independently", () => {
    const usage = new HostPorts.HostPortUsage()
    usage.add("default/a", [port(8080)])
    const copy = usage.copy()
    copy.add("default/b", [port(9090)])
    copy.remove("default/a")
    assert.isUndefined(usage.conflict([port(9090)]))
    assert.isDefined(usage.conflict([port(8080)]))
    assert.isDefined(copy.conflict([port(9090)]))
    assert.isUndefined(copy.conflict([port(8080)]))
  })
})
