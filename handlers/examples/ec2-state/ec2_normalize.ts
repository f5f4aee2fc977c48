/**
 * EC2 instance state-change notifications (EventBridge's "EC2 Instance State-change
 * Notification", as a feeder forwards it: the AWS event is the payload) normalised into
 * one standard event, `aws:ec2.instance-state`, which the other handlers fan out.
 *
 * The standard form: { instance_id, state, region, account, time, arn, name, monitoring }.
 * `monitoring` is "ignore" when the instance carries the tag `event-reactor=ignore` (a
 * feeder that enriches the notification puts the instance's tags in `detail.tags`),
 * else "on"; the fan-out entries skip "ignore" with an `anything-but` pattern, so the
 * skip is recorded in the event's `decisions`, not hidden in code.
 */
interface Ec2Notification {
  id?: string;
  account?: string;
  region?: string;
  time?: string;
  resources?: string[];
  detail?: { 'instance-id'?: string; state?: string; tags?: Record<string, string> };
}

interface Context {
  fire(event: { namespace?: string; event_type: string; payload: unknown }): Promise<{ id: string }>;
}

export interface InstanceState {
  instance_id: string;
  state: string;
  region: string;
  account: string;
  time: string;
  arn: string | null;
  name: string | null;
  monitoring: 'on' | 'ignore';
}

export function toInstanceState(n: Ec2Notification): InstanceState {
  const d = n.detail ?? {};
  if (!d['instance-id'] || !d.state) throw new Error('not an EC2 state-change notification: detail.instance-id and detail.state are required');
  const tags = d.tags ?? {};
  return {
    instance_id: d['instance-id'],
    state: d.state,
    region: n.region ?? 'unknown',
    account: n.account ?? 'unknown',
    time: n.time ?? new Date().toISOString(),
    arn: n.resources?.[0] ?? null,
    name: tags['Name'] ?? null,
    monitoring: tags['event-reactor'] === 'ignore' ? 'ignore' : 'on',
  };
}

export async function normalize(event: { namespace: string; payload: Ec2Notification }, ctx: Context): Promise<{ fired: string; state: InstanceState }> {
  const state = toInstanceState(event.payload);
  const fired = await ctx.fire({ namespace: event.namespace, event_type: 'ec2.instance-state', payload: state });
  return { fired: fired.id, state };
}
