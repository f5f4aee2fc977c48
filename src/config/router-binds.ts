import type { RouterSettings } from './settings.js';

/** Every socket the router binds, named as logs and refusals name them. */
export function routerBinds(r: RouterSettings): { socket: string; endpoint: string }[] {
  return [
    { socket: 'PULL', endpoint: r.pullBind },
    ...r.rep.map((rep, i) => ({ socket: r.rep.length > 1 ? `REP[${i}]` : 'REP', endpoint: rep.bind })),
    { socket: 'PUB', endpoint: r.pubBind },
    { socket: 'replay', endpoint: r.replayBind },
  ];
}
