'use strict';
// Calls EnableWhatsappROIMetric through the official Node SDK (@alicloud/cams20200606).
//
// Input, one JSON object in argv[2] or on stdin:
//   {"endpoint": "127.0.0.1:PORT", "accessKeyId": "...", "accessKeySecret": "...",
//    "calls": [{"custSpaceId": "...", "isvCode": "..."}, ...]}
// Output: one JSON line per call, in order, made one after another on one client:
//   {"ok": true, "statusCode", "body", "requestIdHeader"}
//   {"ok": false, "name", "code", "statusCode", "message", "description", "data",
//    "accessDeniedDetail", "retryAfter"}
// The SDK's errors are `ResponseError`s from @alicloud/tea-typescript; `data` is the
// parsed error body plus `statusCode`. Exit status is 0 unless the input is unusable.

const Client = require('@alicloud/cams20200606').default;
const { EnableWhatsappROIMetricRequest } = require('@alicloud/cams20200606');
const { Config } = require('@alicloud/openapi-client');

function readInput() {
  if (process.argv.length > 2) {
    return process.argv[2];
  }
  return require('fs').readFileSync(0, 'utf8');
}

function describeError(err) {
  const data = err && err.data !== undefined ? err.data : null;
  let accessDeniedDetail = err ? err.accessDeniedDetail : undefined;
  if (accessDeniedDetail === undefined && data) {
    accessDeniedDetail = data.AccessDeniedDetail;
  }
  return {
    ok: false,
    name: err && err.name,
    code: err && err.code,
    statusCode: err && err.statusCode,
    message: err && err.message,
    description: err && err.description,
    data,
    accessDeniedDetail: accessDeniedDetail === undefined ? null : accessDeniedDetail,
    // Not set by openapi-client 0.4.x (only @darabonba/typescript's ResponseError has
    // it); reported so a test sees what the SDK actually surfaces.
    retryAfter: err && err.retryAfter !== undefined ? err.retryAfter : null,
  };
}

async function main() {
  const input = JSON.parse(readInput());
  const client = new Client(
    new Config({
      accessKeyId: input.accessKeyId,
      accessKeySecret: input.accessKeySecret,
      endpoint: input.endpoint,
      protocol: 'http',
      regionId: 'ap-southeast-1',
    }),
  );
  for (const call of input.calls || []) {
    const fields = {};
    if (call.custSpaceId !== undefined && call.custSpaceId !== null) {
      fields.custSpaceId = call.custSpaceId;
    }
    if (call.isvCode !== undefined && call.isvCode !== null) {
      fields.isvCode = call.isvCode;
    }
    let line;
    try {
      const response = await client.enableWhatsappROIMetric(
        new EnableWhatsappROIMetricRequest(fields),
      );
      const body = response.body;
      line = {
        ok: true,
        statusCode: response.statusCode,
        body: {
          RequestId: body.requestId,
          Code: body.code,
          Message: body.message,
          AccessDeniedDetail: body.accessDeniedDetail,
        },
        requestIdHeader: (response.headers || {})['x-acs-request-id'],
      };
    } catch (err) {
      line = describeError(err);
    }
    process.stdout.write(JSON.stringify(line) + '\n');
  }
}

main().catch((err) => {
  process.stderr.write(`call.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(2);
});
