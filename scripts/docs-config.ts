/** `npm run docs:config`: rewrites the settings tables of docs/configuration.md from src/app/settings.ts. */
import { readFileSync, writeFileSync } from 'node:fs';
import { replaceSettingsDocs } from '../src/app/settings-docs.js';

const path = new URL('../docs/configuration.md', import.meta.url);
writeFileSync(path, replaceSettingsDocs(readFileSync(path, 'utf8')));
