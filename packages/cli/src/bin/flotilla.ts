#!/usr/bin/env node
import { installLeanAsyncResourceBind } from '../lean-bind.js';
import { main } from '../program.js';

// Before anything opens an HTTP/2 stream: see lean-bind.ts.
installLeanAsyncResourceBind();

await main(process.argv);
