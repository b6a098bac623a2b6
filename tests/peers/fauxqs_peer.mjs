// fauxqs_peer.mjs - the SQS emulator fauxqs (npm; JSON 1.0 protocol, visibility, redrive to a
// dead-letter queue) on 127.0.0.1 only, for deltair's tests. fauxqs's own CLI binds every
// address; its buildApp() lets us choose. It checks no signatures: tests put
// `aws_peer.py --proxy` in front of it (tests/peers/sqs_peer.sh does both).
//
// Usage: node fauxqs_peer.mjs --fauxqs DIR --config CONFIG.json --port-file FILE
//   DIR: the installed fauxqs package (image/install-deps.sh puts it under
//   /opt/deltair-test/npm/node_modules/fauxqs). CONFIG (every key optional):
//     {"region": "us-east-1",
//      "queues": [{"name": "jobs-dlq"},
//                 {"name": "jobs", "attributes": {"VisibilityTimeout": "30",
//                  "RedrivePolicy": "{\"deadLetterTargetArn\": \"arn:aws:sqs:us-east-1:000000000000:jobs-dlq\", \"maxReceiveCount\": \"2\"}"}}]}
//   Queues are made in order through fauxqs's own CreateQueue (so a dead-letter queue comes
//   first). The port the OS picked is written to FILE (atomically) once the socket listens.
//   Test-only endpoints are fauxqs's: GET /_fauxqs/queues, GET /_fauxqs/queues/NAME.
//   SIGTERM/SIGINT: close and exit 0.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

function arg(name) {
	const i = process.argv.indexOf(name);
	if (i < 0 || i + 1 >= process.argv.length) {
		console.error(`fauxqs_peer: ${name} is required`);
		process.exit(2);
	}
	return process.argv[i + 1];
}

const dir = arg("--fauxqs");
const config = JSON.parse(readFileSync(arg("--config"), "utf-8"));
const portFile = arg("--port-file");
const { buildApp } = await import(pathToFileURL(join(dir, "dist", "app.js")).href);
const { SqsStore } = await import(pathToFileURL(join(dir, "dist", "sqs", "sqsStore.js")).href);
const region = config.region ?? "us-east-1";
// fauxqs returns a message whose visibility ran out to its queue only when someone receives
// from that queue; SQS does it on time. Its timers run every 100 ms here, so that the
// test-only view (and GetQueueAttributes) shows what SQS would.
const sqsStore = new SqsStore();
const app = buildApp({ logger: false, defaultRegion: region, stores: { sqsStore } });
const timers = setInterval(() => sqsStore.processAllTimers(), 100);

for (const q of config.queues ?? []) {
	const r = await app.inject({
		method: "POST",
		url: "/",
		headers: {
			"content-type": "application/x-amz-json-1.0",
			"x-amz-target": "AmazonSQS.CreateQueue",
		},
		payload: JSON.stringify({ QueueName: q.name, Attributes: q.attributes ?? {} }),
	});
	if (r.statusCode !== 200) {
		console.error(`fauxqs_peer: CreateQueue ${q.name}: ${r.statusCode} ${r.body}`);
		process.exit(1);
	}
}

await app.listen({ host: "127.0.0.1", port: 0 });
const port = app.server.address().port;
writeFileSync(portFile + ".tmp", `${port}\n`);
renameSync(portFile + ".tmp", portFile);
console.log(port);

for (const sig of ["SIGTERM", "SIGINT"]) {
	process.on(sig, () => {
		clearInterval(timers);
		app.close().then(() => process.exit(0));
	});
}
