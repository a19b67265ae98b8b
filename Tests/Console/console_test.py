#!/usr/bin/env python3
"""Browser test of the Switchboard web console.

Run by the Swift end-to-end test after it has started the proxy with its admin
listener, an upstream sshd, and created two API tokens (one writing, one
read-only). It drives headless Chromium through selenium and an ssh session in
a detached tmux, and checks each page of the console against the real proxy.

    console_test.py --url http://127.0.0.1:PORT --token TOKEN \
        --read-only-token TOKEN2 \
        --ssh "ssh -F /path/config -p 2222 sbt-alice@127.0.0.1" \
        --login sbt-alice --screenshots DIR

Prints one line "ok - <what>" per step. On a failure it prints
"not ok - <step>: <why>", saves fail-<step>.png and fail-<step>-browser.log in
the screenshots folder, and exits with status 1.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

# The route the test adds through the form, and one it must fail to add.
MADE_LOGIN = 'console-made'
BAD_LOGIN = 'console-bad'
# A route whose upstream user is markup, to check that it is shown as text.
XSS_LOGIN = 'console-xss'
XSS_TEXT = 'x<img src=y onerror=alert(1)>'
# Marker printed in the tmux pane when the ssh command has exited.
SSH_EXITED = 'SBCONSOLE-SSH-EXITED'

# Controls that change something; none may be visible to a read-only token.
WRITING_CONTROLS = ', '.join([
    'button[data-action="end"]', 'button[data-action="delete"]', 'a[data-action="edit"]',
    'button[data-action="toggle"]', 'button[data-action="trust"]', 'button[data-action="keygen"]',
    'button[data-action="remove-key"]', 'button[data-action="add-keys"]', '#add-route', '#route-save',
])

# Reads a table's rows at once (the live table changes every 2 s, so element
# handles could go stale between two calls).
ROWS_SCRIPT = """
const rows = document.querySelectorAll(arguments[0]);
return Array.from(rows).map(function (row) {
  const cells = {};
  row.querySelectorAll('td[data-field]').forEach(function (td) {
    cells[td.dataset.field] = {text: td.textContent, value: td.dataset.value === undefined ? null : td.dataset.value};
  });
  return {id: row.dataset.sessionId || row.dataset.routeLogin || null, cells: cells};
});
"""


class StepFailed(Exception):
    pass


class ConsoleTest:
    def __init__(self, args):
        self.args = args
        self.url = args.url.rstrip('/')
        self.timeout = args.timeout
        self.shots = args.screenshots or tempfile.mkdtemp(prefix='console-test-')
        os.makedirs(self.shots, exist_ok=True)
        self.step = 'setup'
        self.driver = None
        self.browser_log = []
        self.tmux_socket = 'sbconsole-%d' % os.getpid()
        self.tmux_session = 'console-' + uuid.uuid4().hex[:8]
        self.tmux_started = False
        self.session_id = None
        self.nav_count = 0

    # ------------------------------------------------------------ plumbing

    def start_browser(self):
        options = webdriver.ChromeOptions()
        options.binary_location = '/usr/bin/chromium'
        for argument in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--window-size=1280,900'):
            options.add_argument(argument)
        options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
        self.driver = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=options)
        self.driver.set_page_load_timeout(self.timeout * 2)

    def collect_log(self):
        """Moves the browser's console messages into self.browser_log."""
        try:
            self.browser_log.extend(self.driver.get_log('browser'))
        except Exception as error:  # the browser may be gone
            self.browser_log.append({'level': 'NOTE', 'message': 'could not read the browser log: %s' % error})

    def api(self, method, path, body=None, token=None):
        """Calls the admin API directly; returns (status, parsed JSON or None)."""
        headers = {'Authorization': 'Bearer ' + (token or self.args.token), 'Accept': 'application/json'}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers['Content-Type'] = 'application/json'
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = {'raw': text.decode(errors='replace')}
        return status, parsed

    def route_path(self, login):
        return '/v1/routes/' + urllib.parse.quote(login, safe='')

    def delete_route_quietly(self, login):
        self.api('DELETE', self.route_path(login))

    def wait(self, condition, message, timeout=None):
        return WebDriverWait(self.driver, timeout or self.timeout, poll_frequency=0.25).until(condition, message)

    def find(self, selector):
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def visible(self, selector):
        return [e for e in self.driver.find_elements(By.CSS_SELECTOR, selector) if e.is_displayed()]

    def click(self, selector, what=None):
        element = self.wait(EC.element_to_be_clickable((By.CSS_SELECTOR, selector)),
                            'no clickable %s (%s)' % (what or 'element', selector))
        self.driver.execute_script('arguments[0].scrollIntoView({block: "center"});', element)
        element.click()

    def fill(self, selector, text):
        element = self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, selector)), 'no field ' + selector)
        element.clear()
        element.send_keys(text)

    def text_of(self, selector):
        elements = self.driver.find_elements(By.CSS_SELECTOR, selector)
        return elements[0].text if elements else ''

    def accept_confirm(self):
        self.wait(EC.alert_is_present(), 'no confirmation dialog appeared')
        self.driver.switch_to.alert.accept()

    def assert_no_alert(self):
        try:
            alert = self.driver.switch_to.alert
            text = alert.text
            alert.dismiss()
        except NoAlertPresentException:
            return
        raise StepFailed('an alert appeared: %r (markup from the data was run as HTML)' % text)

    def go(self, hash_path):
        """Shows a console page. A unique query part makes the hash change even
        when that page is already shown, so it is drawn anew."""
        self.nav_count += 1
        self.driver.execute_script('location.hash = arguments[0];', '%s?n=%d' % (hash_path, self.nav_count))

    def rows(self, selector):
        return self.driver.execute_script(ROWS_SCRIPT, selector)

    def terminal_text(self):
        return self.driver.execute_script(
            'const t = document.getElementById("terminal"); return t ? t.textContent : "";') or ''

    def screenshot(self, name):
        self.driver.save_screenshot(os.path.join(self.shots, name))

    def tmux(self, *arguments, check=True):
        command = ['tmux', '-L', self.tmux_socket] + list(arguments)
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
        if check and result.returncode != 0:
            raise StepFailed('%s failed: %s' % (' '.join(shlex.quote(a) for a in command), result.stderr.strip()))
        return result

    def type_in_ssh(self, text):
        self.tmux('send-keys', '-t', self.tmux_session, '-l', text)
        self.tmux('send-keys', '-t', self.tmux_session, 'Enter')

    def pane_text(self):
        result = self.tmux('capture-pane', '-p', '-t', self.tmux_session, check=False)
        return result.stdout if result.returncode == 0 else ''

    # --------------------------------------------------------------- steps

    def step_sign_in(self):
        status, who = self.api('GET', '/v1/whoami')
        if status != 200:
            raise StepFailed('GET /v1/whoami with --token answered %s: %s' % (status, who))
        self.driver.get(self.url + '/')
        self.wait(EC.visibility_of_element_located((By.ID, 'token')), 'the sign-in page did not appear')
        self.screenshot('01-sign-in.png')

        self.fill('#token', 'sbt_' + 'A' * 43)
        self.click('#sign-in')
        self.wait(lambda d: self.text_of('#sign-in-error'), 'a wrong token showed no error')
        if self.visible('#app-header'):
            raise StepFailed('a wrong token signed in')

        self.fill('#token', self.args.token)
        self.click('#sign-in')
        self.wait(lambda d: self.text_of('#whoami-name') == who['name'],
                  'the header does not show the token name %r' % who['name'])
        return 'sign-in page; a wrong token is refused; %r signs in' % who['name']

    def step_live_sessions(self):
        status, answer = self.api('GET', '/v1/sessions?active=true')
        if status != 200:
            raise StepFailed('GET /v1/sessions?active=true answered %s: %s' % (status, answer))
        before = {str(s['id']) for s in answer['sessions']}

        # The ssh command runs in a detached tmux; the marker shows when it exits.
        command = '%s; echo; echo %s status=$?; sleep 600' % (self.args.ssh, SSH_EXITED)
        self.tmux('new-session', '-d', '-s', self.tmux_session, '-x', '100', '-y', '30', command)
        self.tmux_started = True

        self.go('#/sessions')

        def new_row(driver):
            for row in self.rows('#sessions-table tr[data-session-id]'):
                if row['id'] not in before and row['cells'].get('login', {}).get('text') == self.args.login:
                    return row
            if SSH_EXITED in self.pane_text():
                raise StepFailed('ssh exited before its session appeared:\n' + self.pane_text())
            return None
        row = self.wait(new_row, 'no live session of %r appeared in the table' % self.args.login)
        self.session_id = row['id']
        self.screenshot('02-live-sessions.png')

        def bytes_in():
            for r in self.rows('#sessions-table tr[data-session-id="%s"]' % self.session_id):
                value = r['cells'].get('bytes-in', {}).get('value')
                return int(value) if value not in (None, '') else 0
            return 0
        start = bytes_in()
        self.type_in_ssh('echo typed-for-the-byte-count')
        self.wait(lambda d: bytes_in() > start, 'bytes in of session %s stayed at %d after typing' % (self.session_id, start))
        return 'session %s of %s is listed live; its bytes in went up from %d to %d' % (
            self.session_id, self.args.login, start, bytes_in())

    def step_watch(self):
        self.click('tr[data-session-id="%s"] button[data-action="watch"]' % self.session_id, 'Watch button')
        self.wait(lambda d: 'watching live' in self.text_of('#status'),
                  'the watch page never said "watching live"')
        self.type_in_ssh('echo watched-$(( 6 * 7 ))')
        self.wait(lambda d: 'watched-42' in self.terminal_text(),
                  'the terminal never showed watched-42')
        self.screenshot('03-watch.png')
        kind = self.driver.execute_script('return document.getElementById("terminal").dataset.terminal;')
        if kind != 'xterm':
            raise StepFailed('the terminal is not xterm.js (data-terminal=%r)' % kind)
        return 'watch page shows the live output in xterm.js'

    def step_end_session(self):
        self.click('button[data-action="end"]', 'End session button')
        self.accept_confirm()
        self.wait(lambda d: SSH_EXITED in self.pane_text(), 'the ssh in tmux did not exit after End session')
        self.wait(lambda d: 'ended' in self.text_of('#status'), 'the watch page does not say the session ended')
        self.screenshot('04-ended.png')
        return 'End session ended the ssh connection; the page says %r' % self.text_of('#status')

    def step_history(self):
        self.go('#/history')
        row_selector = '#history-table tr[data-session-id="%s"]' % self.session_id

        asked = [time.monotonic()]

        def ended_row(driver):
            for row in self.rows(row_selector):
                if row['cells'].get('end-reason', {}).get('text'):
                    return row
            if time.monotonic() - asked[0] > 2:  # it ended moments ago: ask again
                asked[0] = time.monotonic()
                self.find('#history-apply').click()
            return None
        row = self.wait(ended_row, 'session %s is not listed with an end reason' % self.session_id)
        reason = row['cells']['end-reason']['text']

        status, session = self.api('GET', '/v1/sessions/%s' % self.session_id)
        if status != 200:
            raise StepFailed('GET /v1/sessions/%s answered %s: %s' % (self.session_id, status, session))
        if not session.get('has_recording'):
            return 'past sessions list session %s, end reason %r (it has no recording: replay not checked)' % (
                self.session_id, reason)
        self.click(row_selector + ' button[data-action="replay"]', 'Replay button')
        self.click('button[data-speed="4"]', '4x speed button')
        self.wait(lambda d: 'watched-42' in self.terminal_text(), 'the replay never showed watched-42')
        self.screenshot('05-replay.png')
        return 'past sessions list session %s, end reason %r; its replay shows watched-42' % (self.session_id, reason)

    def route_cell(self, login, field):
        for row in self.rows('#routes-table tr[data-route-login]'):
            if row['id'] == login:
                return row['cells'].get(field, {}).get('text')
        return None

    def step_routes(self):
        for login in (MADE_LOGIN, BAD_LOGIN):
            self.delete_route_quietly(login)

        # Add through the form.
        self.go('#/routes')
        self.click('#add-route', 'Add route link')
        self.fill('#route-login', MADE_LOGIN)
        self.fill('#route-upstream', '127.0.0.1:2200')
        self.click('#route-save')
        self.wait(lambda d: self.route_cell(MADE_LOGIN, 'upstream') is not None,
                  'route %s did not appear in the table after Add' % MADE_LOGIN)
        status, route = self.api('GET', self.route_path(MADE_LOGIN))
        if status != 200:
            raise StepFailed('route %s is not in the API after Add: %s %s' % (MADE_LOGIN, status, route))

        # A bad upstream: the API's message is shown and nothing is added.
        bad = {'login': BAD_LOGIN, 'upstream': 'bad host:99999'}
        self.click('#add-route', 'Add route link')
        self.fill('#route-login', bad['login'])
        self.fill('#route-upstream', bad['upstream'])
        self.click('#route-save')
        self.wait(lambda d: self.text_of('#form-error'), 'a bad upstream showed no error on the form')
        shown = self.text_of('#form-error')
        self.screenshot('07-route-form-error.png')
        if not self.driver.execute_script('return location.hash;').startswith('#/routes/new'):
            raise StepFailed('the form navigated away after an error')
        status, _ = self.api('GET', self.route_path(BAD_LOGIN))
        if status != 404:
            raise StepFailed('route %s exists after a refused Add (GET answered %s)' % (BAD_LOGIN, status))
        status, answer = self.api('POST', '/v1/routes', body=bad)
        if status < 400:
            self.delete_route_quietly(BAD_LOGIN)
            raise StepFailed('the API accepted %s, which the test expected it to refuse' % bad)
        api_message = answer['error']['message']
        if api_message not in shown:
            raise StepFailed('the form shows %r, not the API\'s message %r' % (shown, api_message))

        # Disable, then delete.
        self.go('#/routes')
        self.click('tr[data-route-login="%s"] button[data-action="toggle"]' % MADE_LOGIN, 'Disable button')
        self.wait(lambda d: self.route_cell(MADE_LOGIN, 'enabled') == 'no',
                  'route %s is not shown disabled' % MADE_LOGIN)
        status, route = self.api('GET', self.route_path(MADE_LOGIN))
        if status != 200 or route.get('enabled') is not False:
            raise StepFailed('the API does not have route %s disabled: %s %s' % (MADE_LOGIN, status, route))
        self.screenshot('06-routes.png')

        self.click('tr[data-route-login="%s"] button[data-action="delete"]' % MADE_LOGIN, 'Delete button')
        self.accept_confirm()
        self.wait(lambda d: self.route_cell(MADE_LOGIN, 'upstream') is None,
                  'route %s is still in the table after Delete' % MADE_LOGIN)
        status, _ = self.api('GET', self.route_path(MADE_LOGIN))
        if status != 404:
            raise StepFailed('route %s is still in the API after Delete (GET answered %s)' % (MADE_LOGIN, status))
        return 'routes: added %s, a bad upstream shows %r and adds nothing, disabled, deleted' % (MADE_LOGIN, shown)

    def step_explain(self):
        self.go('#/explain')
        self.fill('#explain-login', self.args.login)
        self.click('#explain-submit')
        self.wait(lambda d: self.text_of('#explain-verdict') or self.text_of('#explain-error'),
                  'explain showed nothing')
        if self.text_of('#explain-error'):
            raise StepFailed('explain failed: ' + self.text_of('#explain-error'))
        self.screenshot('08-explain.png')
        return 'explain for %s: verdict %r' % (self.args.login, self.text_of('#explain-verdict'))

    def step_read_only(self):
        status, who = self.api('GET', '/v1/whoami', token=self.args.read_only_token)
        if status != 200 or not who.get('read_only'):
            raise StepFailed('--read-only-token is not a read-only token: %s %s' % (status, who))
        self.click('#sign-out')
        self.fill('#token', self.args.read_only_token)
        self.click('#sign-in')
        self.wait(lambda d: self.visible('#whoami-mode') and self.text_of('#whoami-name') == who['name'],
                  'the header does not show %r as read-only' % who['name'])

        # Each page, and what shows that it has loaded its data.
        pages = (
            ('#/sessions', lambda d: self.text_of('#sessions-status').startswith('Refreshed')),
            ('#/history', EC.presence_of_element_located((By.CSS_SELECTOR, '#history-table tbody tr'))),
            ('#/routes', EC.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-route-login]'))),
            ('#/routes/new', EC.presence_of_element_located((By.CSS_SELECTOR, '#page-error'))),
        )
        checked = []
        for page, loaded in pages:
            self.go(page)
            self.wait(loaded, 'page %s did not load' % page)
            if page == '#/routes':
                self.click('tr[data-route-login="%s"] button[data-action="keys"]' % self.args.login, 'Keys button')
                self.wait(EC.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="keys-table"]')),
                          'the keys of %s did not load' % self.args.login)
                self.screenshot('09-read-only.png')
            shown = [e.get_attribute('outerHTML')[:120] for e in self.visible(WRITING_CONTROLS)]
            if shown:
                raise StepFailed('page %s shows writing controls to a read-only token: %s' % (page, shown))
            checked.append(page)
        return 'read-only token %r sees no writing controls on %s' % (who['name'], ', '.join(checked))

    def step_escaping(self):
        checks = []
        self.delete_route_quietly(XSS_LOGIN)
        status, answer = self.api('POST', '/v1/routes', body={
            'login': XSS_LOGIN, 'upstream': '127.0.0.1:2200', 'upstream_user': XSS_TEXT})
        try:
            if status == 201:
                self.go('#/routes')
                self.wait(lambda d: self.route_cell(XSS_LOGIN, 'upstream-user') is not None,
                          'route %s did not appear' % XSS_LOGIN)
                time.sleep(1)  # time for an injected image's onerror, if there were one
                shown = self.route_cell(XSS_LOGIN, 'upstream-user')
                if XSS_TEXT not in shown:
                    raise StepFailed('the upstream user shows as %r, not literally %r' % (shown, XSS_TEXT))
                if self.driver.find_elements(By.CSS_SELECTOR, '#main img'):
                    raise StepFailed('an <img> element was created from route data')
                self.assert_no_alert()
                checks.append('a route\'s upstream user %r shows as text' % XSS_TEXT)
            else:
                checks.append('the API refused the markup upstream user (%s)' % status)
        finally:
            self.delete_route_quietly(XSS_LOGIN)

        # Text typed by the operator comes back as text too.
        typed = '<b>bold</b>'
        self.go('#/explain')
        self.fill('#explain-login', typed)
        self.click('#explain-submit')
        self.wait(lambda d: self.text_of('#explain-verdict') or self.text_of('#explain-error'), 'explain showed nothing')
        if typed not in self.text_of('#main'):
            raise StepFailed('the explain page does not show %r literally' % typed)
        if self.driver.find_elements(By.CSS_SELECTOR, '#main b'):
            raise StepFailed('a <b> element was created from the typed login')
        self.assert_no_alert()
        self.screenshot('10-escaping.png')
        checks.append('an explained login %r shows as text' % typed)
        return 'escaping: ' + '; '.join(checks)

    def check_browser_log(self):
        """Fails on a JavaScript error in the console's own code."""
        self.collect_log()
        errors = [e['message'] for e in self.browser_log
                  if e.get('level') == 'SEVERE' and 'console.js' in e.get('message', '')
                  and 'Failed to load resource' not in e.get('message', '')]
        if errors:
            raise StepFailed('JavaScript errors in console.js:\n' + '\n'.join(errors))
        xterm = [e['message'] for e in self.browser_log
                 if e.get('level') == 'SEVERE' and 'xterm' in e.get('message', '')]
        if xterm:
            raise StepFailed('xterm.js failed in the browser:\n' + '\n'.join(xterm))
        return 'no JavaScript errors from console.js or xterm.js in the browser log'

    # ------------------------------------------------------------- running

    STEPS = [
        ('sign-in', step_sign_in),
        ('live-sessions', step_live_sessions),
        ('watch', step_watch),
        ('end-session', step_end_session),
        ('history', step_history),
        ('routes', step_routes),
        ('explain', step_explain),
        ('read-only', step_read_only),
        ('escaping', step_escaping),
        ('browser-log', check_browser_log),
    ]

    def run(self):
        try:
            self.step = 'start-browser'
            self.start_browser()
            for name, step in self.STEPS:
                self.step = name
                what = step(self)
                self.collect_log()
                print('ok - %s' % what, flush=True)
            print('ok - all %d steps passed; screenshots in %s' % (len(self.STEPS), self.shots))
            return 0
        except Exception as error:  # every failure: report, keep evidence, exit 1
            self.report_failure(error)
            return 1
        finally:
            self.cleanup()

    def report_failure(self, error):
        reason = str(error) or type(error).__name__
        if isinstance(error, TimeoutException):
            reason = 'timed out: ' + (error.msg or 'waiting')
        print('not ok - %s: %s' % (self.step, reason), flush=True)
        if self.driver:
            try:
                self.screenshot('fail-%s.png' % self.step)
                print('# url: %s' % self.driver.current_url, file=sys.stderr)
            except Exception as shot_error:
                print('# no screenshot: %s' % shot_error, file=sys.stderr)
            self.collect_log()
        log_path = os.path.join(self.shots, 'fail-%s-browser.log' % self.step)
        with open(log_path, 'w') as log:
            for entry in self.browser_log:
                line = '%s %s' % (entry.get('level'), entry.get('message'))
                log.write(line + '\n')
                print('# browser: ' + line, file=sys.stderr)
        if self.tmux_started:
            print('# tmux pane:\n' + self.pane_text(), file=sys.stderr)
        print('# screenshots and browser log in %s' % self.shots, file=sys.stderr)

    def cleanup(self):
        if self.tmux_started:
            self.tmux('kill-server', check=False)
        if self.driver:
            try:
                self.driver.quit()
            except Exception as error:
                print('# quitting the browser failed: %s' % error, file=sys.stderr)


def parse_arguments():
    parser = argparse.ArgumentParser(description='Browser test of the Switchboard web console.')
    parser.add_argument('--url', required=True, help='the admin listener, e.g. http://127.0.0.1:8022')
    parser.add_argument('--token', required=True, help='a writing admin API token')
    parser.add_argument('--read-only-token', required=True, help='a read-only admin API token')
    parser.add_argument('--ssh', required=True, help='a command line that opens a shell through the proxy without prompts')
    parser.add_argument('--login', required=True, help='the login the --ssh command uses')
    parser.add_argument('--screenshots', help='folder for the screenshots (default: a new temporary folder)')
    parser.add_argument('--timeout', type=int, default=30, help='seconds to wait for each thing (default 30)')
    return parser.parse_args()


if __name__ == '__main__':
    sys.exit(ConsoleTest(parse_arguments()).run())
