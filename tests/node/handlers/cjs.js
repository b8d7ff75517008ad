// CommonJS, async: returns the event and what the function sees of its environment.
'use strict';

exports.handler = async (event, context) => ({
  event,
  kind: 'cjs-async',
  requestId: context.awsRequestId,
  functionName: context.functionName,
  remainingMs: context.getRemainingTimeInMillis(),
  node: process.version,
  execArgv: process.execArgv,
  env: Object.fromEntries(
    ['AWS_EXECUTION_ENV', 'NODE_PATH', 'LAMBDA_TASK_ROOT', '_HANDLER', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE']
      .map((k) => [k, process.env[k]]),
  ),
  cwd: process.cwd(),
});
