// The Node.js function of seed 002 (shared/seeds/002: "AWS Lambda Graceful Shutdown"), as that
// post shows it: a connection opened once, before the handler, reused by every invoke, and a
// SIGTERM handler that closes it and exits. The post's `mysql.createConnection({...})` is
// replaced by `connect()` below, a stand-in with the same shape (a promise of a connection whose
// `end()` takes a moment), so that the function needs no database and no npm package.
'use strict';

const connectionPromise = connect();

// Handler
exports.handler = async function (event, context) {
  const connection = await connectionPromise;
  connection.queries += 1;
  // business logic here ...
  return { ok: true, queries: connection.queries, requestId: context.awsRequestId };
};

// SIGTERM Handler
process.on('SIGTERM', async () => {
  console.info('[runtime] SIGTERM received');

  console.info('[runtime] cleaning up');
  // perform actual clean up work here.
  const connection = await connectionPromise;
  await connection.end();

  console.info('[runtime] exiting');
  process.exit(0);
});

/** A connection-like object: `end()` resolves after 20 ms, as a real close takes a round trip. */
async function connect() {
  return {
    queries: 0,
    end: () => new Promise((resolve) => setTimeout(resolve, 20)),
  };
}
