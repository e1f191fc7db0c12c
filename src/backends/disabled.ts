/** The backend of an app without `backend`: stores nothing, and reading a result says how to configure one. */
import { ImproperlyConfigured } from '../errors.js';
import type { ResultMeta } from '../types.js';
import type { BackendCapabilities, GroupMeta, ResultBackend } from './backend.js';

const MESSAGE =
  'No result backend is configured, so results cannot be read: set backend (result_backend), for example ' +
  'sqlite://celeriac.db, redis://localhost:6379/0 or rpc://';

export class DisabledBackend implements ResultBackend {
  readonly url = 'disabled://';
  readonly capabilities: BackendCapabilities = {
    persistent: false,
    shared: false,
    push: false,
    groups: false,
    chords: 'none',
    autoExpire: true,
  };

  async connect(): Promise<void> {}
  async store(_meta: ResultMeta): Promise<void> {}
  async get(_taskId: string): Promise<ResultMeta | null> {
    throw new ImproperlyConfigured(MESSAGE);
  }
  async waitFor(_taskId: string): Promise<ResultMeta> {
    throw new ImproperlyConfigured(MESSAGE);
  }
  async forget(_taskId: string): Promise<void> {
    throw new ImproperlyConfigured(MESSAGE);
  }
  async saveGroup(_groupId: string, _meta: GroupMeta): Promise<void> {
    throw new ImproperlyConfigured(MESSAGE);
  }
  async getGroup(_groupId: string): Promise<GroupMeta | null> {
    throw new ImproperlyConfigured(MESSAGE);
  }
  async deleteGroup(_groupId: string): Promise<void> {
    throw new ImproperlyConfigured(MESSAGE);
  }
  async cleanup(): Promise<void> {}
  async close(): Promise<void> {}
}
