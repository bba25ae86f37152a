import type { LocalCloudState } from '../../local/cloud';
import { replicationFollower } from '../../local/rehearsal';
import {
  failbackWindow,
  lagAt,
  spread,
  switchoverWindow,
  writeFreeze,
  writeKey,
  type StateEvent,
} from '../../local/report-metrics';

describe('writeFreeze: the longest gap between acknowledged writes across the switchover', () => {
  // Writes every 10 ms, a 1.5 s hole from 1000 to 2500, a shorter hole before the window.
  const acks = [
    ...Array.from({ length: 50 }, (_, i) => i * 10), // 0 .. 490
    800, // a 310 ms gap before the window
    ...Array.from({ length: 11 }, (_, i) => 900 + i * 10), // 900 .. 1000
    2500,
    2510,
    2520,
  ];

  it('is the gap that overlaps the window, in whatever order the writes were acknowledged', () => {
    expect(writeFreeze([...acks].reverse(), { from: 1200, to: 2000 })).toEqual({ from: 1000, to: 2500, ms: 1500 });
  });

  it('ignores a longer gap outside the window', () => {
    const withLongGapLater = [...acks, 9000];
    expect(writeFreeze(withLongGapLater, { from: 1200, to: 2000 })).toEqual({ from: 1000, to: 2500, ms: 1500 });
    // The same gap, with a window around it, is the freeze.
    expect(writeFreeze(withLongGapLater, { from: 3000, to: 4000 })).toEqual({ from: 2520, to: 9000, ms: 6480 });
  });

  it('counts a gap that only touches the window at one end', () => {
    expect(writeFreeze(acks, { from: 2400, to: 2600 })?.ms).toBe(1500);
    expect(writeFreeze(acks, { from: 0, to: 950 })?.ms).toBe(310);
  });

  it('runs to the end of observation when no write came back after the window', () => {
    expect(writeFreeze([0, 10, 20], { from: 15, to: 500 }, 4000)).toEqual({ from: 20, to: 4000, ms: 3980 });
    // Writes that came back after the window: the end of observation does not matter.
    expect(writeFreeze([0, 10, 600], { from: 15, to: 500 }, 4000)).toEqual({ from: 10, to: 600, ms: 590 });
  });

  it('is null without a window (no switchover) or without writes', () => {
    expect(writeFreeze(acks, null)).toBeNull();
    expect(writeFreeze([], { from: 0, to: 10 })).toBeNull();
  });
});

describe('switchoverWindow: from the freeze of blue to the CNAME swap', () => {
  const ev = (type: string, name: string, timestamp: number): StateEvent => ({ type, timestamp, state: { name } });

  it('starts when the write block or the fence starts and ends when the swap ends', () => {
    const events = [
      ev('StateEntered', 'ApplySql', 100),
      ev('StateExited', 'SwapCname', 150), // not after a freeze: ignored
      ev('StateEntered', 'BlockWrites', 1000),
      ev('StateEntered', 'FenceWrites', 1100),
      ev('StateEntered', 'SwapCname', 2000),
      ev('StateExited', 'SwapCname', 2300),
      ev('StateEntered', 'RetainBlue', 2301),
    ];
    expect(switchoverWindow(events)).toEqual({ from: 1000, to: 2300 });
    expect(switchoverWindow(events.filter((e) => e.state?.name !== 'BlockWrites'))).toEqual({ from: 1100, to: 2300 });
  });

  it("online mode: from the switchover's fence to the end of the swap; blue's groups detached after it start nothing", () => {
    const events = [
      ev('StateEntered', 'PrepareReplication', 100),
      ev('StateEntered', 'CreateClone', 200),
      ev('StateEntered', 'SwitchoverFence', 5100),
      ev('StateEntered', 'CatchUpGreen', 5200),
      ev('StateExited', 'SwapCname', 6000),
      ev('StateEntered', 'SwitchoverBlockWrites', 6100),
      ev('StateEntered', 'CloseBlue', 6500),
    ];
    expect(switchoverWindow(events)).toEqual({ from: 5100, to: 6000 });
    expect(switchoverWindow(events.filter((e) => e.state?.name !== 'SwitchoverFence'))).toBeNull();
  });

  it('without a swap (a rollback), runs to the end of the run; without a freeze it is null', () => {
    expect(
      switchoverWindow([
        ev('StateEntered', 'FenceWrites', 10),
        ev('StateEntered', 'Rollback', 50),
        ev('StateExited', 'Rollback', 90),
      ]),
    ).toEqual({ from: 10, to: 90 });
    expect(switchoverWindow([ev('StateEntered', 'CreateClone', 10), ev('StateExited', 'SwapCname', 20)])).toBeNull();
  });
});

describe('failbackWindow: from the decision to fail back to the end of the run', () => {
  const ev = (type: string, name: string, timestamp: number): StateEvent => ({ type, timestamp, state: { name } });
  const events = [
    ev('StateEntered', 'FenceWrites', 1000),
    ev('StateExited', 'SwapCname', 2000),
    ev('StateEntered', 'RetainBlueForFailback', 2100),
    ev('StateEntered', 'FenceGreen', 5000),
    ev('StateExited', 'Report', 7000),
  ];

  it('starts at the decision when it is known, else where the fence on green starts', () => {
    expect(failbackWindow(events, 4800)).toEqual({ from: 4800, to: 7000 });
    expect(failbackWindow(events)).toEqual({ from: 5000, to: 7000 });
  });

  it('is null without a failback', () => {
    expect(failbackWindow(events.filter((e) => e.state?.name !== 'FenceGreen'))).toBeNull();
    expect(failbackWindow([])).toBeNull();
  });
});

describe('lagAt: the age of the oldest acknowledged write not yet on the follower', () => {
  const pending = [
    { table: 'app.load_writes', id: 1, at: 1000 },
    { table: 'app.seq_writes', id: 1, at: 1200 },
    { table: 'app.load_writes', id: 2, at: 1500 },
  ];

  it('is measured from the oldest missing write, per table', () => {
    expect(lagAt(3000, pending, new Set())).toBe(2000);
    expect(lagAt(3000, pending, new Set([writeKey({ table: 'app.load_writes', id: 1 })]))).toBe(1800);
    expect(lagAt(3000, pending, new Set(['app.load_writes:1', 'app.seq_writes:1']))).toBe(1500);
  });

  it('is 0 when the follower has every one, and never negative', () => {
    expect(lagAt(3000, pending, new Set(pending.map(writeKey)))).toBe(0);
    expect(lagAt(3000, [], new Set())).toBe(0);
    expect(lagAt(900, pending, new Set())).toBe(0);
  });
});

describe('spread: median, minimum and maximum of the runs', () => {
  it('over the figures that exist', () => {
    expect(spread([300, 100, 200])).toEqual({ median: 200, min: 100, max: 300 });
    expect(spread([400, null, 100, 200, 300])).toEqual({ median: 250, min: 100, max: 400 });
    expect(spread([null, undefined])).toBeNull();
  });
});

describe('replicationFollower: which replication the lag sampler watches', () => {
  const GREEN = 'app-blue-g261204080000';
  function cloud() {
    const state = { target: 'app-blue', green: false };
    const fake = {
      describeState: () =>
        ({
          clusters: [{ id: 'app-blue' }, ...(state.green ? [{ id: GREEN, status: 'available' }] : [])],
          cname: { targetClusterId: state.target },
        }) as unknown as LocalCloudState,
      writerAddress: (id: string) =>
        id === 'app-blue'
          ? { host: '127.0.0.1', port: 5001 }
          : state.green
            ? { host: '127.0.0.1', port: 5002 }
            : undefined,
    };
    return { state, fake };
  }

  it('online: blue to green until the cutover; with failback, green to blue while green serves; nothing after a failback', () => {
    const { state, fake } = cloud();
    const follow = replicationFollower(fake, 'online', true);
    expect(follow()).toBeUndefined(); // no green yet
    state.green = true;
    expect(follow()).toEqual({
      direction: 'blue-to-green',
      sourcePort: 5001,
      follower: { host: '127.0.0.1', port: 5002 },
    });
    state.target = GREEN;
    expect(follow()).toEqual({
      direction: 'green-to-blue',
      sourcePort: 5002,
      follower: { host: '127.0.0.1', port: 5001 },
    });
    state.target = 'app-blue'; // failed back: green is fenced and left alone
    expect(follow()).toBeUndefined();
  });

  it('offline without failback watches nothing; offline with failback only green to blue', () => {
    const { state, fake } = cloud();
    state.green = true;
    const offline = replicationFollower(fake, 'offline', false);
    const offlineFailback = replicationFollower(fake, 'offline', true);
    expect(offline()).toBeUndefined();
    expect(offlineFailback()).toBeUndefined();
    state.target = GREEN;
    expect(offline()).toBeUndefined();
    expect(offlineFailback()?.direction).toBe('green-to-blue');
  });
});
