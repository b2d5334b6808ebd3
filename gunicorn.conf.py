"""gunicorn's settings for every deployment of the web app (Dockerfile, docker-compose, the load benchmark).

gunicorn reads this file from the working directory; command-line options override it.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Sync workers: on the 2-core reference machine 4 gave the best vote and queue latencies under the
# load benchmark (3 and 8 did worse). WEB_CONCURRENCY sets it per host.
workers = int(os.environ.get("WEB_CONCURRENCY", 4))
threads = 1
# A report export or a PDF letter can take several seconds; a stuck request is killed after a minute.
timeout = 60
accesslog = "-"
