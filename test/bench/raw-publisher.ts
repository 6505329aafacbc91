/**
 * The detect bench's raw publisher, in a process of its own as the collector
 * is: `raw-publisher.ts <messages.json> <count>` publishes `count` messages
 * cycling through the captured ones (subject and payload), with plain
 * `js.publish` and a window in flight, no validation, unique message ids.
 */
import { readFileSync } from 'node:fs';
import { loadConfig } from '../../config/index.ts';
import { configBusOptions, connectBus } from '../../choreography/index.ts';

const [file, countText] = process.argv.slice(2);
const messages = (
  JSON.parse(readFileSync(file as string, 'utf8')) as { subject: string; data: string }[]
).map((m) => ({ subject: m.subject, data: Buffer.from(m.data, 'base64') }));
const count = Number(countText);
const WINDOW = 256;
const config = loadConfig();
const bus = await connectBus({ ...configBusOptions(config, 'bench/raw'), ensureStreams: false });
let next = 0;
await Promise.all(
  Array.from({ length: WINDOW }, async () => {
    while (next < count) {
      const i = next++;
      const m = messages[i % messages.length] as { subject: string; data: Buffer };
      await bus.js.publish(m.subject, m.data, { msgID: `raw-${i}` });
    }
  }),
);
await bus.close();
