#!/usr/bin/env node
// Echo server on node's `ws`, for actix-tether's interop tests.
//
// Usage: ws_echo.js [--port N] [--compression deflate|none] [--no-context-takeover]
//
// Binds 127.0.0.1 (port 0 unless --port) and prints the chosen port alone on
// the first line of stdout. If the `ws` package cannot be loaded, the first
// line is instead `unavailable: <why>` and the exit code is 3; if the port
// cannot be bound, `bind failed: <why>` and exit code 4.
//
// Every text and binary message is echoed as it came. The text message
// `__extensions__` is answered instead with two lines describing this
// connection's handshake:
//     agreed: <Sec-WebSocket-Extensions of the server's response, or empty>
//     offered: <Sec-WebSocket-Extensions of the client's request, or empty>
// Pings are answered by the library. The server exits when stdin closes, so
// it never outlives the test that started it.
'use strict';

const EXIT_UNAVAILABLE = 3;
const EXIT_BIND_FAILED = 4;
// Large enough for the tests' biggest message.
const MAX_MESSAGE_SIZE = 64 * 1024 * 1024;

let WebSocketServer;
try {
  ({ WebSocketServer } = require('ws'));
} catch (error) {
  process.stdout.write(`unavailable: npm package ws: ${error.message.split('\n')[0]}\n`);
  process.exit(EXIT_UNAVAILABLE);
}

function parseArgs(argv) {
  const args = { port: 0, compression: 'none', noContextTakeover: false };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--port') {
      args.port = Number.parseInt(argv[(i += 1)], 10);
    } else if (arg === '--compression') {
      args.compression = argv[(i += 1)];
    } else if (arg === '--no-context-takeover') {
      args.noContextTakeover = true;
    } else {
      throw new Error(`unknown argument ${arg}`);
    }
  }
  if (!['deflate', 'none'].includes(args.compression) || !Number.isInteger(args.port)) {
    throw new Error('usage: ws_echo.js [--port N] [--compression deflate|none] [--no-context-takeover]');
  }
  return args;
}

function perMessageDeflate(args) {
  if (args.compression === 'none') {
    return false;
  }
  if (args.noContextTakeover) {
    return { serverNoContextTakeover: true, clientNoContextTakeover: true };
  }
  // The library's own default permessage-deflate settings.
  return true;
}

function extensionsHeader(lines) {
  const prefix = 'sec-websocket-extensions:';
  return lines
    .filter((line) => line.toLowerCase().startsWith(prefix))
    .map((line) => line.slice(prefix.length).trim())
    .join(', ');
}

const args = parseArgs(process.argv.slice(2));
const server = new WebSocketServer({
  host: '127.0.0.1',
  port: args.port,
  perMessageDeflate: perMessageDeflate(args),
  maxPayload: MAX_MESSAGE_SIZE,
});

// The response headers are final here; keep what was agreed for `connection`.
server.on('headers', (headers, request) => {
  request.agreedExtensions = extensionsHeader(headers);
});

server.on('connection', (socket, request) => {
  const agreed = request.agreedExtensions || '';
  const offered = request.headers['sec-websocket-extensions'] || '';
  socket.on('message', (data, isBinary) => {
    if (!isBinary && data.length === 14 && data.toString() === '__extensions__') {
      socket.send(`agreed: ${agreed}\noffered: ${offered}`);
    } else {
      socket.send(data, { binary: isBinary });
    }
  });
  socket.on('error', () => socket.terminate());
});

server.on('listening', () => {
  process.stdout.write(`${server.address().port}\n`);
});

server.on('error', (error) => {
  process.stdout.write(`bind failed: ${error.message}\n`);
  process.exit(EXIT_BIND_FAILED);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
