// CommonJS, callback style (Node.js 20 and 22 runtimes still accept it).
'use strict';

exports.handler = (event, context, callback) => {
  setTimeout(() => callback(null, { event, kind: 'cjs-callback' }), 5);
};
