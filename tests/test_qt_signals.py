"""Guard against the PySide6 6.12.0 bug that aborted the app: queued cross-thread signals
corrupted None's reference count ("Fatal Python error: none_dealloc") after a few hundred live
predictions. Run in a subprocess, since the failure is an abort, not an exception."""

import subprocess
import sys

ROUND_TRIPS = r"""
import sys
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot
app = QCoreApplication([])

class Worker(QObject):
    reply = Signal(dict)
    @Slot(dict)
    def work(self, request):
        self.reply.emit({"seq": request["seq"], "value": None})

class Client(QObject):
    request = Signal(dict)
    received = 0
    @Slot(dict)
    def got(self, reply):
        self.received += 1

worker, client, thread = Worker(), Client(), QThread()
worker.moveToThread(thread)
thread.start()
client.request.connect(worker.work)
worker.reply.connect(client.got)
for i in range(3000):
    count = client.received
    client.request.emit({"seq": i})
    while client.received == count:
        app.processEvents()
thread.quit()
thread.wait()
print("ok", client.received)
"""


def test_thousands_of_cross_thread_dict_signals_do_not_corrupt_the_interpreter():
    result = subprocess.run([sys.executable, "-c", ROUND_TRIPS], capture_output=True, text=True,
                            timeout=120, env={"QT_QPA_PLATFORM": "offscreen", "PATH": ""})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok 3000"
