import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TUNNEL_UNIT_NAME, renderTunnelUnit } from '../../../src/adapters/systemd/unit-file.ts';
import { verifyUnitFiles } from '../../../src/adapters/systemd/verify.ts';

describe('cloudflared-pvdify.service', () => {
  it('runs the tunnel on the generated ingress file and passes systemd-analyze verify', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvdify-tunnel-unit-'));
    try {
      // cloudflared is not installable here: any existing executable stands in for the path check.
      const text = renderTunnelUnit({ cloudflaredPath: '/usr/bin/caddy', stateDir: '/var/lib/pvdify' });
      assert.match(text, /^ExecStart=\/usr\/bin\/caddy --no-autoupdate tunnel --config \/var\/lib\/pvdify\/tunnels\/pvdify-apps\.yml run$/m);
      assert.match(text, /^Restart=always$/m);
      const path = join(dir, TUNNEL_UNIT_NAME);
      writeFileSync(path, text);
      const result = await verifyUnitFiles([path]);
      assert.deepEqual(result.diagnostics, []);
      assert.equal(result.ok, true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a relative binary path', () => {
    assert.throws(() => renderTunnelUnit({ cloudflaredPath: 'cloudflared', stateDir: '/var/lib/pvdify' }));
  });
});
