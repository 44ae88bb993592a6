import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Result from "effect/Result"
import * as Options from "../../src/operator/Options.ts"

const run = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Options.Options => {
  const parsed = Options.parse(args, env)
  if (Result.isFailure(parsed)) throw new Error(parsed.failure)
  if (parsed.success._tag !== "Run") throw new Error("help")
  return parsed.success.options
}

const failure = (args: ReadonlyArray<string>, env: Record<string, string> = {}): string => {
  const parsed = Options.parse(args, env)
  if (Result.isSuccess(parsed)) throw new Error("expected a failure")
  return parsed.failure
}

describe("Options", () => {
  it("defaults to upstream's values", () => {
    const options = run([])
    assert.strictEqual(options.metricsPort, 8080)
    assert.strictEqual(options.healthProbePort, 8081)
    assert.strictEqual(options.kubeClientQPS, 200)
    assert.strictEqual(options.kubeClientBurst, 300)
    assert.strictEqual(options.leaderElectionName, "karpenter-leader-election")
    assert.strictEqual(options.leaderElectionNamespace, "")
    assert.isFalse(options.disableLeaderElection)
    assert.strictEqual(options.logLevel, "info")
    assert.strictEqual(Duration.toMillis(options.batchMaxDuration), 10_000)
    assert.strictEqual(Duration.toMillis(options.batchIdleDuration), 1_000)
    assert.strictEqual(options.preferencePolicy, "Respect")
    assert.deepStrictEqual(options.featureGates, {
      NodeRepair: false,
      ReservedCapacity: false,
      SpotToSpotConsolidation: false,
      StaticCapacity: false,
      NodeOverlay: false,
      CapacityBuffer: false
    })
    assert.strictEqual(options.instanceTypesFilePath, undefined)
    assert.strictEqual(options.kubeconfig, undefined)
  })

  it("reads the environment, and flags override it", () => {
    const env = {
      METRICS_PORT: "9090",
      KUBE_CLIENT_QPS: "50",
      BATCH_IDLE_DURATION: "2s",
      LOG_LEVEL: "debug",
      DISABLE_LEADER_ELECTION: "true",
      INSTANCE_TYPES_FILE_PATH: "/etc/types.json",
      KUBECONFIG: "/tmp/kc",
      LEADER_ELECTION_NAMESPACE: "karpenter"
    }
    const fromEnv = run([], env)
    assert.strictEqual(fromEnv.metricsPort, 9090)
    assert.strictEqual(fromEnv.kubeClientQPS, 50)
    assert.strictEqual(Duration.toMillis(fromEnv.batchIdleDuration), 2_000)
    assert.strictEqual(fromEnv.logLevel, "debug")
    assert.isTrue(fromEnv.disableLeaderElection)
    assert.strictEqual(fromEnv.instanceTypesFilePath, "/etc/types.json")
    assert.strictEqual(fromEnv.kubeconfig, "/tmp/kc")
    assert.strictEqual(fromEnv.leaderElectionNamespace, "karpenter")

    const overridden = run(
      [
        "--metrics-port=9191",
        "--kube-client-qps",
        "7.5",
        "-batch-idle-duration=500ms",
        "--log-level",
        "error",
        "--disable-leader-election=false",
        "--kubeconfig=/other"
      ],
      env
    )
    assert.strictEqual(overridden.metricsPort, 9191)
    assert.strictEqual(overridden.kubeClientQPS, 7.5)
    assert.strictEqual(Duration.toMillis(overridden.batchIdleDuration), 500)
    assert.strictEqual(overridden.logLevel, "error")
    assert.isFalse(overridden.disableLeaderElection)
    assert.strictEqual(overridden.kubeconfig, "/other")
  })

  it("takes boolean flags alone, and does not let them swallow the next argument", () => {
    const options = run(["--disable-leader-election", "--enable-profiling", "--metrics-port", "0"])
    assert.isTrue(options.disableLeaderElection)
    assert.isTrue(options.enableProfiling)
    assert.strictEqual(options.metricsPort, 0)
  })

  it("ignores empty variables", () => {
    assert.strictEqual(run([], { METRICS_PORT: "", FEATURE_GATES: "" }).metricsPort, 8080)
  })

  it("parses feature gates over the defaults, from either source", () => {
    assert.isTrue(run([], { FEATURE_GATES: "SpotToSpotConsolidation=true" }).featureGates.SpotToSpotConsolidation)
    const gates = run(["--feature-gates", "NodeRepair=true, SpotToSpotConsolidation=True, StaticCapacity=true"], {
      FEATURE_GATES: "ReservedCapacity=true"
    }).featureGates
    assert.deepStrictEqual(gates, {
      NodeRepair: true,
      ReservedCapacity: true,
      SpotToSpotConsolidation: true,
      StaticCapacity: true,
      NodeOverlay: false,
      CapacityBuffer: false
    })
    assert.deepStrictEqual(
      Options.controllerOptions(
        run(["--feature-gates=SpotToSpotConsolidation=true,ReservedCapacity=true", "--preference-policy=Ignore"])
      ),
      {
        batchIdle: Duration.seconds(1),
        batchMax: Duration.seconds(10),
        preferencePolicy: "Ignore",
        minValuesPolicy: "Strict",
        spotToSpotConsolidation: true,
        staticCapacity: false,
        nodeRepair: false,
        reservedCapacity: true,
        nodeOverlay: false,
        capacityBuffer: false
      }
    )
    assert.isTrue(Options.controllerOptions(run(["--feature-gates=NodeRepair=true"])).nodeRepair)
  })

  it("--min-values-policy / MIN_VALUES_POLICY: Strict by default, BestEffort reaches the controllers", () => {
    assert.strictEqual(run([]).minValuesPolicy, "Strict")
    assert.strictEqual(run([], { MIN_VALUES_POLICY: "BestEffort" }).minValuesPolicy, "BestEffort")
    assert.strictEqual(
      run(["--min-values-policy=Strict"], { MIN_VALUES_POLICY: "BestEffort" }).minValuesPolicy,
      "Strict"
    )
    assert.strictEqual(
      Options.controllerOptions(run(["--min-values-policy", "BestEffort"])).minValuesPolicy,
      "BestEffort"
    )
    assert.strictEqual(
      failure(["--min-values-policy=besteffort"]),
      'invalid value "besteffort" for flag --min-values-policy: expected one of Strict, BestEffort'
    )
    assert.strictEqual(
      failure([], { MIN_VALUES_POLICY: "Loose" }),
      'invalid value "Loose" for MIN_VALUES_POLICY: expected one of Strict, BestEffort'
    )
  })

  it("rejects unknown flags and invalid values with one line", () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, Record<string, string>, string]> = [
      [["--bogus"], {}, "flag provided but not defined: -bogus"],
      [["--kube-client-qps=abc"], {}, 'invalid value "abc" for flag --kube-client-qps: expected a number'],
      [["--kube-client-burst=-1"], {}, 'invalid value "-1" for flag --kube-client-burst: expected an integer >= 0'],
      [
        ["--metrics-port=70000"],
        {},
        'invalid value "70000" for flag --metrics-port: expected a port between 0 and 65535'
      ],
      [
        ["--batch-max-duration=10"],
        {},
        'invalid value "10" for flag --batch-max-duration: expected a duration such as 10s, 500ms or 1m30s'
      ],
      [["--batch-idle-duration=0s"], {}, 'invalid value "0s" for flag --batch-idle-duration: must be positive'],
      [["--log-level=warn"], {}, 'invalid value "warn" for flag --log-level: expected one of debug, info, error'],
      [
        ["--preference-policy=respect"],
        {},
        'invalid value "respect" for flag --preference-policy: expected one of Respect, Ignore'
      ],
      [
        ["--disable-leader-election=yes"],
        {},
        'invalid value "yes" for flag --disable-leader-election: expected a boolean'
      ],
      [
        ["--feature-gates=Bogus=true"],
        {},
        'invalid value "Bogus=true" for flag --feature-gates: unrecognized feature gate: Bogus'
      ],
      [
        ["--feature-gates=SpotToSpotConsolidation"],
        {},
        'invalid value "SpotToSpotConsolidation" for flag --feature-gates: missing bool value for SpotToSpotConsolidation'
      ],
      [["--metrics-port"], {}, "flag needs an argument: -metrics-port"],
      [["stray"], {}, "unexpected argument: stray"],
      [[], { KUBE_CLIENT_QPS: "fast" }, 'invalid value "fast" for KUBE_CLIENT_QPS: expected a number'],
      [
        [],
        { FEATURE_GATES: "SpotToSpotConsolidation=maybe" },
        'invalid value "SpotToSpotConsolidation=maybe" for FEATURE_GATES: invalid value of SpotToSpotConsolidation=maybe, err: expected a boolean'
      ]
    ]
    for (const [args, env, message] of cases) {
      const error = failure(args, env)
      assert.strictEqual(error, message, args.join(" "))
      assert.notInclude(error, "\n")
    }
  })

  it("asks for the usage, which lists every flag with its variable and default", () => {
    const parsed = Options.parse(["--log-level=debug", "--help"], {})
    assert.isTrue(Result.isSuccess(parsed) && parsed.success._tag === "Help")
    const text = Options.usage("karpenter-effect controller")
    for (const definition of Options.definitions) {
      assert.include(text, `--${definition.flag}`)
      assert.include(text, `env ${definition.env}`)
    }
    assert.include(text, "(env BATCH_MAX_DURATION; default 10s)")
  })
})
