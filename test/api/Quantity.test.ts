import { assert, describe, it } from "@effect/vitest"
import * as Duration from "../../src/api/Duration.ts"
import * as Quantity from "../../src/api/Quantity.ts"

describe("Quantity", () => {
  it("converts to milli-units exactly", () => {
    const cases: ReadonlyArray<readonly [string | number, number]> = [
      ["100m", 100],
      ["2", 2000],
      ["1.5", 1500],
      ["0.1", 100],
      ["1Ki", 1024_000],
      ["2Gi", 2 * 1024 ** 3 * 1000],
      ["1k", 1_000_000],
      ["1e3", 1_000_000],
      ["1.5e-3", 2],
      ["10n", 1],
      ["-1", -1000],
      [3, 3000]
    ]
    for (const [input, milli] of cases) assert.strictEqual(Quantity.toMilli(input), milli, String(input))
  })

  it("rejects malformed quantities", () => {
    for (const input of ["", "lots", "1.2.3", "1Gb", "Gi"]) assert.isUndefined(Quantity.toMilli(input), input)
  })

  it("formats canonically", () => {
    assert.strictEqual(Quantity.format(100), "100m")
    assert.strictEqual(Quantity.format(4000), "4")
    assert.strictEqual(Quantity.format(16 * 1024 ** 3 * 1000, { binary: true }), "16Gi")
    assert.strictEqual(Quantity.format(1500 * 1024 ** 2 * 1000, { binary: true }), "1500Mi")
    assert.strictEqual(Quantity.format(2_000_000), "2k")
    assert.strictEqual(Quantity.format(0), "0")
  })

  it("round-trips through format", () => {
    for (const milli of [1, 250, 1000, 123_000, 1024_000, 3 * 1024 ** 2 * 1000]) {
      assert.strictEqual(Quantity.toMilli(Quantity.format(milli, { binary: true })), milli)
      assert.strictEqual(Quantity.toMilli(Quantity.format(milli)), milli)
    }
  })
})

describe("Duration", () => {
  it("parses Go-style durations", () => {
    assert.strictEqual(Duration.toMillis("30s"), 30_000)
    assert.strictEqual(Duration.toMillis("1h30m"), 5_400_000)
    assert.strictEqual(Duration.toMillis("720h"), 720 * 3_600_000)
    assert.strictEqual(Duration.toMillis("0s"), 0)
    assert.isUndefined(Duration.toMillis("Never"))
    assert.isNull(Duration.toMillis("10d"))
    assert.isNull(Duration.toMillis(""))
    assert.isNull(Duration.toMillis("1h junk"))
  })

  it("formats like Go", () => {
    assert.strictEqual(Duration.format(0), "0s")
    assert.strictEqual(Duration.format(5_400_000), "1h30m0s")
    assert.strictEqual(Duration.format(90_000), "1m30s")
    assert.strictEqual(Duration.format(5_000), "5s")
  })
})
