export function timePeer(peer: string, batch: number, seconds: number, run: () => Promise<unknown>): Promise<void>;
