/**
 * EventBridge messages as the interruption queue receives them, in the shapes of upstream's test fixtures
 * (aws/karpenter-provider-aws v1.4.0 `pkg/controllers/interruption/suite_test.go`).
 */
const region = "us-west-2"
const account = "000000000000"

/** The envelope every message shares; `time` in epoch millis (the TestClock starts at 0). */
const envelope = (source: string, detailType: string, instanceId: string, time: number, detail: unknown): string =>
  JSON.stringify({
    version: "0",
    id: `${detailType}-${instanceId}-${time}`,
    "detail-type": detailType,
    source,
    account,
    time: new Date(time).toISOString(),
    region,
    resources: [`arn:aws:ec2:${region}:instance/${instanceId}`],
    detail
  })

/** An EC2 Spot Instance Interruption Warning. */
export const spotInterruption = (instanceId: string, time = 0): string =>
  envelope("aws.ec2", "EC2 Spot Instance Interruption Warning", instanceId, time, {
    "instance-id": instanceId,
    "instance-action": "terminate"
  })

/** An EC2 Instance Rebalance Recommendation. */
export const rebalanceRecommendation = (instanceId: string, time = 0): string =>
  envelope("aws.ec2", "EC2 Instance Rebalance Recommendation", instanceId, time, { "instance-id": instanceId })

/** An EC2 Instance State-change Notification. */
export const stateChange = (instanceId: string, state: string, time = 0): string =>
  envelope("aws.ec2", "EC2 Instance State-change Notification", instanceId, time, { "instance-id": instanceId, state })

/** An AWS Health scheduled change of EC2 affecting the instance. */
export const scheduledChange = (instanceId: string, time = 0): string =>
  envelope("aws.health", "AWS Health Event", instanceId, time, {
    service: "EC2",
    eventTypeCategory: "scheduledChange",
    affectedEntities: [{ entityValue: instanceId }]
  })
