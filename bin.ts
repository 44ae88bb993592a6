#!/usr/bin/env node
/**
 * The composition root: picks the service implementations and runs the command line.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import { Command } from "effect/cli"
import * as Cli from "./src/operator/Cli.ts"
import { version } from "./src/operator/Version.ts"

Command.run(Cli.command, { version }).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
