# meridian backup of one deployment, every day at {{minute}} past {{hour}}
# (user crontab format: add it with `crontab -e`, no user field on the line).
# Printed by `meridian backup TOPOLOGY --cron`.
#
# Each run copies every shard's RDB snapshot from a healthy replica to the
# object storage of the topology's backup section, writes the manifest
# last, then applies backup.keep_last / backup.keep_days.  Runs never
# overlap: a second one waits 10 s for the state dir's backup lock, then
# exits 75 without acting.  Each run appends its JSON result (or the
# sentence that says why it failed) to {{log}}; `meridian status` warns
# once the last good backup is older than backup.warn_after_h.  The
# credentials come from backup.credentials_file (cron has no AWS_*
# variables).  The paths below must not contain spaces or '%' (cron reads
# '%' as a newline).
{{minute}} {{hour}} * * * {{meridian}} backup {{topology}} --state {{state}} --json >> {{log}} 2>&1
