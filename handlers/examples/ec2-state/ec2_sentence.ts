/** One sentence for people about a normalised EC2 state change (`aws:ec2.instance-state`). */
interface InstanceState {
  instance_id: string;
  state: string;
  region: string;
  account: string;
  time: string;
  name: string | null;
}

const WORDS: Record<string, string> = {
  running: 'is now running',
  'shutting-down': 'is shutting down',
  stopping: 'is stopping',
  stopped: 'has stopped',
  terminated: 'was terminated',
};

export function describe(event: { payload: InstanceState }): string {
  const s = event.payload;
  const who = s.name ? `${s.name} (${s.instance_id})` : s.instance_id;
  return `EC2 instance ${who} in ${s.region}, account ${s.account}, ${WORDS[s.state] ?? `changed to ${s.state}`} as of ${s.time}.`;
}
