// An ES module, async.
export const handler = async (event) => ({ event, kind: 'esm-async' });
